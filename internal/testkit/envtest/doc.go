// Package envtest holds the helpers of the Lambda functions' environment
// tests (provider and queueimport): an environment that changes a few
// variables of a base one, and ConfigFromEnv's answer checked.
package envtest
