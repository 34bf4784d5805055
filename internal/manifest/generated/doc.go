// Package generated reads the plain certificate lists that scripts and
// test tools write: one line per device, each the base64 of a PEM text with
// the device certificate and optionally its chain. Bad lines are records
// with a Problem naming the line; docs/design.md ("Generated certificate
// lists") has the details.
package generated
