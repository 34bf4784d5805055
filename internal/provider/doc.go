// Package provider is the logic of the provider Lambda function: for each
// manifest uploaded to one of the stack's buckets, read as the bucket's
// vendor with that vendor's trust, it runs the preflight, validates every
// device with the CLI's code, queues the valid ones for the importer
// function and writes a JSON summary next to the manifest. The handler
// returns an error (so Lambda retries the event) only when trying again can
// help. docs/design.md ("The stack's contract") says what is retried.
package provider
