// Package importer makes every valid device of a manifest a complete Thing
// in AWS IoT Core in the fewest calls the job allows (CreateThing,
// RegisterCertificateWithoutCA, AttachThingPrincipal, then one call per
// policy and group), recording each step in the state file so that a
// killed run resumes without repeating one. The CLI and the Lambda
// importer share it; docs/design.md ("Import") explains the order.
package importer
