// Package iotproxy is a fault-injecting reverse proxy for the AWS IoT
// control plane, put between the AWS SDK and moto by integration tests and
// benchmarks. moto never throttles or fails, so the proxy adds what AWS
// does: latency, per-operation rate quotas answered with AWS's own
// ThrottlingException, 5xx faults, dropped connections, and the
// CreateThing refusals moto lacks. docs/design.md ("Test tooling") lists
// each fault and its options.
package iotproxy
