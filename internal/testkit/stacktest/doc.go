// Package stacktest gives tests a thingpress stack in one local moto: the
// upload bucket, the import queue and dead-letter queues (made by a small
// CloudFormation stack with the logical IDs of template.yaml), AWS IoT
// behind the fault-injecting proxy, and the S3 notifications and SQS
// batches Lambda really delivers to the provider and importer handlers.
// Only tests import it.
package stacktest
