// Package bind makes devices complete whose certificates were registered
// before (thingpress import --register-only), from a device-infos file
// that a manufacturing line writes: each device names its certificate by
// fingerprint (the hex SHA-256 of its DER, which is AWS IoT's certificate
// ID) and gives the Thing's name, type and attributes. For each device it
// finds the certificate, creates the Thing, attaches certificate, policies
// and groups with the importer's steps, and activates the certificate
// last, so that a device left half-made keeps an INACTIVE certificate.
// Every step is recorded in the state file, so a killed run resumes.
package bind
