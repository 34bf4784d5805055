// Package state keeps the resume state of an import in a bbolt file, so
// that an import killed at any moment (kill -9, a lost SSH session, a full
// disk) can be run again with the same command and finish the rest: no
// device lost, none imported twice, no completed step repeated.
//
// The importer records each device's steps ("register", "thing",
// "principal", "policy:NAME", "group:NAME") with Update as each one
// completes, before it moves on. Update returns only once the change is
// committed and fsync'd, and it batches concurrent updates (bbolt's
// DB.Batch) so that many importer goroutines share one fsync.
//
// A state file belongs to one manifest imported into one slot of one AWS
// account region and endpoint: Open refuses a file recorded for another
// (ErrMismatch), and the file lock makes a second concurrent import on the
// same file fail at once (ErrLocked) rather than race the first.
//
// A damaged file (truncated, pages or records that do not read) is
// ErrCorrupt, whose message names the file and says how to go on: the
// import is idempotent, so a new state file only costs the calls that
// find what is already done. Open checks every page before bbolt, which
// trusts its file, can panic or fault on one, and the Store's methods
// turn what bbolt does on a page damaged later into ErrCorrupt too. The
// meta record carries a CRC, so that a damaged one is ErrCorrupt and not
// ErrMismatch.
//
// Records are JSON, one bbolt key per device, so a state file can be read
// with the bbolt command-line tool when something goes wrong.
package state
