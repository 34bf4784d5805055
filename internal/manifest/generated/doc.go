// Package generated reads the plain certificate lists that scripts and
// test tools write: one certificate per line, each line the standard
// base64 encoding of a PEM text holding the device certificate and,
// optionally, its chain after it.
//
// A [Reader] is a [manifest.Source] yielding one record per non-blank
// line, named "line N". The record's Data is the first CERTIFICATE block
// (the leaf) re-encoded as PEM, because validation accepts one certificate
// per entry; [Reader.NextDevice] also returns the chain's DER. The Thing
// name is left to validation, which takes it from the leaf's subject CN,
// as the tools that write these files intend.
//
// A line that is not base64, holds no CERTIFICATE block, holds a block of
// another type, or holds private key material (which is never passed on)
// is a record with a Problem naming its line. A line longer than the base64
// of Limits.MaxEntryBytes is skipped without being kept in memory and
// reported as a Problem too; the input is capped at Limits.MaxTotalBytes
// and at Limits.MaxEntries lines, both fatal.
package generated
