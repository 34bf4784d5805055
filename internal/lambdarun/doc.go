// Package lambdarun is what the two Lambda functions (provider and
// importer) share around their handlers: reading the environment that
// template.yaml sets (see internal/stack), the JSON logger, the metrics,
// the AWS clients (Start), and the manifest's name in messages and
// metrics. It does not import the Lambda runtime library: the handlers
// stay plain functions that tests call directly.
package lambdarun
