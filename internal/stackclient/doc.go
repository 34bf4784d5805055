// Package stackclient is the CLI's side of a deployed thingpress stack
// (template.yaml): it uploads a manifest into the stack's bucket of its
// vendor (<stack-name>-infineon, -microchip, -espressif, -generated), with
// S3's multipart upload for big files, and reports the stack's state
// without the console: the depth of the import queue and of both
// dead-letter queues, found by their logical IDs with CloudFormation's
// DescribeStackResources, and the latest manifest summaries the provider
// wrote under the summary prefix.
package stackclient
