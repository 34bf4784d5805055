// Package validate turns the raw records of a manifest into devices that
// are either ready to import or carry the reason they are not: no private
// key material in any form, chip, reel and batch IDs that are valid thing
// attributes (and a chip ID of the vendor's form), one certificate per
// entry, inside its validity period, a device certificate by the profile
// of profile.go (not a CA, usable for TLS client authentication, one CN, a
// key and signature algorithm AWS IoT accepts), chaining to the trust
// anchors, a subject CN that is a valid AWS IoT thing name, and no
// certificate, chip ID or thing name seen before in the same manifest. The
// same checks serve inspect, import and the Lambda provider.
//
// Records are checked in parallel and delivered in manifest order; memory
// stays bounded by the number of records in flight plus an 8-byte
// fingerprint per certificate, chip ID and thing name for the duplicate
// checks.
package validate
