// Package state keeps the resume state of an import in a bbolt file, so
// that an import killed at any moment can be run again with the same
// command and finish the rest: no device lost, none imported twice, no
// completed step repeated. A device's record is its Progress: the steps
// done and the registered certificate. Each step is fsync'd before the
// importer moves on; a file for another manifest, a locked file and a
// damaged file each have their own error. docs/design.md ("The resume
// state file") has more.
package state
