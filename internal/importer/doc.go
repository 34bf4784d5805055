// Package importer makes every valid device of a manifest a complete Thing
// in AWS IoT Core, in the fewest calls the job allows:
//
//	RegisterCertificateWithoutCA (ACTIVE)
//	CreateThing (thing type; chip, reel and batch IDs as attributes)
//	AttachThingPrincipal
//	AttachPolicy, once per policy
//	AddThingToThingGroup, once per group
//
// No describe call sits on a new device's way: a certificate that is
// already registered answers ResourceAlreadyExistsException with its ID
// and ARN, and every other step is idempotent. Each step is recorded in
// the state file before the next one starts, so a killed run resumes
// where it stopped without repeating a completed step. Calls go through a
// rate limiter per operation and are retried with jittered backoff when
// AWS throttles or fails transiently; a permanent error fails only its
// device. The CLI and the Lambda importer share this code.
package importer
