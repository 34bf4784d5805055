// Package validate turns the raw records of a manifest into devices that
// are either ready to import or carry the reason they are not: one
// certificate per entry, no private key material, inside its validity
// period, chaining to the trust anchors, a subject CN that is a valid AWS
// IoT thing name, and no certificate or thing name seen before in the same
// manifest. The same checks serve inspect, import and the Lambda provider.
//
// Records are checked in parallel and delivered in manifest order; memory
// stays bounded by the number of records in flight plus an 8-byte
// fingerprint per certificate and thing name for the duplicate checks.
package validate
