// Package queueimport is the logic of the importer Lambda function: it
// takes a batch of import queue messages (see stack.Message), makes each
// device a complete Thing with the CLI's idempotent per-device import
// (internal/importer), and answers with a partial batch response.
//
// Pacing: the event source runs at most IMPORTER_MAX_CONCURRENCY
// invocations at once, and each paces its calls at that share of the
// account's quotas (ShareQuotas), so that together they stay under them.
// The rate limiters live as long as the execution environment, so a
// fresh invocation does not start with a fresh burst.
//
// What happens to a device:
//
//   - imported or already there: counted (DevicesImported,
//     DevicesExisting);
//   - failed for good (e.g. a thing of that name exists with other
//     settings): logged and counted (DevicesFailed), not retried; one that
//     failed after some steps is logged as "device failed half-made" with
//     left_in_aws (the certificate's ARN and status, the Thing, the steps
//     done and missing) and counted in the batch line's left_half_made;
//   - retries ran out (throttling or transient faults), or not finished
//     because the invocation's time was running out: sent back to the
//     queue in a new message, with the steps already done, so the next
//     attempt resumes after them (DevicesRequeued). A message whose
//     retries ran out comes back after a growing delay (DelaySeconds); one
//     cut short by time comes back at once.
//
// A message is reported in batchItemFailures, so that SQS delivers it
// again and finally moves it to the dead-letter queue, only when its body
// is not a message at all, when sending its unfinished devices back
// failed, or when their retries ran out MaxResends times already (with
// the defaults, after about five hours of retrying). Throttling alone
// therefore never moves a message toward the dead-letter queue, and a
// device sent back starts a new message, whose receive count starts
// again.
package queueimport
