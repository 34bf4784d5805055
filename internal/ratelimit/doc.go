// Package ratelimit paces calls to the AWS IoT control plane so that an
// import runs as fast as the account's slowest quota allows without
// tripping it, and backs off when AWS throttles anyway (other tools may
// share the quotas). A Limiter is a token bucket per operation that adapts
// its rate to the fraction of calls throttled; a Set holds one per
// operation. docs/design.md ("Rate limiting") explains the approach.
package ratelimit
