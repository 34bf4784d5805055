// Package remove undoes an import, device by device: for a device whose
// certificate is in AWS IoT it detaches the policies, takes the Thing out
// of its groups, detaches the certificate from the Thing, sets the
// certificate INACTIVE and deletes it, and deletes the Thing when no other
// principal is attached to it. A Thing the certificate is not attached to
// is not the device's and is left alone, and so is a certificate that is
// attached to a Thing other than the device's.
//
// Every step is recorded in the import's state file before the next, as
// the importer records its own, so a removal killed at any moment is
// finished by running it again; once a device is removed its record is
// emptied, and a later import starts it afresh. Each step is idempotent
// in AWS or treats "not found" as done, for a step whose answer a killed
// run lost.
package remove
