// Package emf writes CloudWatch metrics as Embedded Metric Format log
// lines: one JSON object per line on the function's standard output,
// from which CloudWatch Logs extracts the metrics without any API call
// (and so without any IAM permission for cloudwatch:PutMetricData).
// A metric's identity is its dimensions: thingpress emits one dimension
// set per line (Manifest), so a dashboard sums over manifests with a
// SEARCH expression and nothing is counted twice.
package emf
