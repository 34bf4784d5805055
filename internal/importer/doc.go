// Package importer makes one device (a Device) a complete Thing in AWS IoT
// Core in the fewest calls the job allows (CreateThing,
// RegisterCertificateWithoutCA, AttachThingPrincipal, then one call per
// policy and group), recording each step in a state.Journal (Progress per
// device) so that a killed run resumes without repeating one. Its calls go
// through awsiot.Caller.Try, which tells it whether an earlier attempt
// may have taken effect (a lost answer) or not (a refusal), and a failed device's Result
// says what it left in AWS (Leftover). The CLI (through package pipeline)
// and the Lambda importer (package queueimport) share it; docs/design.md
// ("Import") explains the order.
package importer
