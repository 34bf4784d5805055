// Package ratelimit paces calls to the AWS IoT control plane so that an
// import runs as fast as the account's slowest quota allows without
// tripping it, and backs off when AWS throttles anyway.
//
// AWS IoT enforces per-account, per-region quotas in requests per second
// for each operation (RegisterCertificateWithoutCA and DescribeCertificate
// at 10 TPS, AttachPolicy at 15, CreateThing and friends at 100, ...).
// Importing a device costs one call to several of them, so the slowest
// quota sets the pace, and any burst above it comes back as a
// ThrottlingException that costs a retry. Other tools in the same account
// draw on the same quotas, so a fixed rate is not enough either.
//
// A Limiter paces one operation with a token bucket whose burst is small
// (by default the whole-number part of the rate: a 10 TPS quota allows 10
// calls after idle, then exactly 10 per second) and adapts its rate to the
// fraction of calls throttled per window of a second: it settles where
// about 11% of calls are throttled, which holds it at the ceiling when a
// few calls are throttled whatever the rate and about 12% above a lower
// quota that throttles because of the rate; a window with more than a
// third throttled cuts it at once, and throttle-free time brings it back
// to the ceiling within seconds. A Set holds one Limiter per operation
// name, configured from a quota table such as DefaultQuotas or
// ForRegistrationRate.
package ratelimit
