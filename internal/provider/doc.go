// Package provider is the logic of the provider Lambda function: for each
// manifest uploaded to the stack's bucket (an S3 ObjectCreated event) it
// copies the object to the function's ephemeral storage, runs the
// preflight once, validates every device with the same code as the CLI,
// and sends the valid ones to the import queue, several devices per
// message and ten messages per SendMessageBatch, while it is still
// validating the rest. Invalid devices are logged with their reason and
// counted. A JSON summary of the manifest is written next to it in the
// bucket, under the summary prefix.
//
// Within one invocation, a call that fails whole (S3, SQS, the
// preflight's reads) is retried by the SDK's standard retryer alone; the
// entries SQS fails inside a SendMessageBatch answer are re-sent by the
// provider alone (Config.SendAttempts).
//
// What is retried: the handler returns an error, so that Lambda retries
// the event and finally sends it to the function's dead-letter queue,
// only when trying again can help: the preflight failed (a policy, thing
// type or group is missing or AWS answered with an error), reading the
// object or writing the first summary failed, sending to SQS failed, or
// the function ran out of time. A final summary that cannot be written is
// only logged. A manifest that cannot be
// read (not a manifest, malformed, encrypted, over MAX_MANIFEST_BYTES,
// slot missing) gives the same answer every time: its summary records
// the error, the ManifestsFailed metric counts it, and the event is not
// retried. A retried manifest is read again from the start, so devices
// already queued are queued again; the importer's idempotent import makes
// that cost calls, not duplicates.
package provider
