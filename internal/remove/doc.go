// Package remove undoes an import, device by device: it detaches the
// policies, takes the Thing out of its groups, detaches, deactivates and
// deletes the certificate, and deletes the Thing, never touching a Thing
// or certificate that is not the device's. Every step is recorded in the
// import's state file before the next, so a killed removal is finished by
// running it again, and a removed device's record is emptied for a later
// import. docs/design.md ("Verify and remove") has the details.
package remove
