// Package queueimport is the logic of the importer Lambda function: it
// takes a batch of import queue messages (see stack.Message), makes each
// device a complete Thing with the CLI's idempotent per-device import
// (package importer), and answers with a partial batch response. Devices
// whose retries ran out go back to the queue with their steps done, so
// throttling alone never moves a message toward the dead-letter queue.
// docs/design.md ("The stack's contract") says what happens to each device.
package queueimport
