// Package importer makes every valid device of a manifest a complete Thing
// in AWS IoT Core, in the fewest calls the job allows:
//
//	CreateThing (thing type; chip, reel and batch IDs as attributes)
//	RegisterCertificateWithoutCA (ACTIVE)
//	AttachThingPrincipal
//	AttachPolicy, once per policy
//	AddThingToThingGroup, once per group
//
// CreateThing comes first because it is the step AWS refuses most often
// for reasons of the device's own (a Thing of that name with other
// settings, an attribute AWS does not accept): refused there, a device
// leaves nothing in AWS. A device that fails later is reported with what
// it left (Result.Left): the ACTIVE certificate, the Thing, the steps done.
//
// No describe call sits on a new device's way: a certificate that is
// already registered answers ResourceAlreadyExistsException with its ID
// and ARN, and every other step is idempotent. Each step is recorded in
// the state file before the next one starts, so a killed run resumes
// where it stopped without repeating a completed step. The time before
// the first register call is recorded too, so that when a killed run's
// registration comes back as "already registered" one DescribeCertificate
// tells it from a certificate registered before the import. Calls go
// through a rate limiter per operation and are retried with jittered
// backoff when AWS throttles or fails transiently; a permanent error fails
// only its device. The CLI and the Lambda importer share this code.
package importer
