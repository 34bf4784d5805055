// Package iotproxy is a fault-injecting reverse proxy for the AWS IoT
// control plane, put between the AWS SDK and moto (or any backend) by
// integration tests and benchmarks.
//
// moto never throttles and never fails, so on its own it cannot show how
// the importer behaves at AWS's real rate quotas or when calls fail. The
// proxy recognises each IoT operation from its restJson method and path
// and can, per request and in this order:
//
//   - delay it (Latency plus a uniform Jitter), to model the network;
//   - throttle it with a per-operation token bucket (Quotas, requests per
//     second, burst = the rate rounded up), answering exactly as AWS does:
//     HTTP 400, X-Amzn-ErrorType: ThrottlingException, body
//     {"message":"Rate exceeded"}; throttled requests are not forwarded;
//   - answer it with a retryable fault (FaultRate): 500
//     InternalFailureException or 503 ServiceUnavailableException, not
//     forwarded;
//   - drop it (DropRate): close the client's connection without an
//     answer, either before forwarding or, for the fraction
//     DropAfterForward, after the backend has carried it out, which is
//     the case "the call took effect but the client never heard".
//
// With StrictCreateThing and StrictAttributes it also gives CreateThing two
// refusals of AWS's that moto lacks: a name taken by a Thing with other
// settings (409 ResourceAlreadyExistsException), and an attribute outside
// AWS's patterns (400 InvalidRequestException).
//
// Requests the proxy does not recognise as IoT (another service sharing
// the same moto, or moto's own /moto-api) are counted as "Other" and
// forwarded untouched. Randomness comes from Seed, so a run is
// reproducible for a given order of requests.
//
// One caution for drop tests: Go's http.Transport silently retries a GET
// (and other idempotent requests) once when a reused keep-alive
// connection closes before any answer, so the proxy may count two calls
// for one SDK attempt, as AWS would.
package iotproxy
