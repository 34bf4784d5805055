// Package awsconf loads the AWS SDK configuration the CLI's clients start
// from: the standard configuration chain, with --region and --profile on
// top, and one clear error when no region is configured anywhere. The IoT
// client of import and the S3, SQS and CloudFormation clients of upload
// and status share it, so they find the same account and region.
package awsconf
