// Package backoff is the one backoff of the retries thingpress writes
// itself (awsiot.Caller's IoT calls, the provider's re-send of the entries
// SQS failed, the import queue's send-back delay). Calls that need no
// special care are retried by the AWS SDK's standard retryer instead (see
// internal/awsconf).
package backoff
