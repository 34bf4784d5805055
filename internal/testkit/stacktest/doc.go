// Package stacktest gives tests a thingpress stack in one local moto: the
// upload bucket <name>-infineon, the import queue with its dead-letter
// queue and the provider's dead-letter queue, made by a small
// CloudFormation stack with the logical IDs of template.yaml; AWS IoT
// behind the fault-injecting proxy (internal/iottest); and a queue that
// receives the bucket's S3 notifications, so that tests invoke the
// provider with the ObjectCreated event S3 really sends. It also
// delivers the import queue to an importer handler in batches, as
// Lambda's event source does. Only tests import it.
package stacktest
