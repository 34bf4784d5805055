// Package awsconf loads the AWS SDK configuration every client starts
// from: the standard configuration chain, with --region and --profile on
// top, one clear error when no region is configured anywhere, the SDK's
// standard retryer (Retryer) for the calls that need no special care, and
// an HTTP client whose connect timeout reports an endpoint that drops
// packets as unreachable in seconds. The IoT clients of the CLI and the
// S3, SQS and CloudFormation clients of upload, status and the Lambda
// functions share it, so they find the same account and region; NewS3 is
// the one S3 client.
package awsconf
