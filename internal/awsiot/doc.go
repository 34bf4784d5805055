// Package awsiot is thingpress's edge to the AWS IoT control plane: the
// small interface of the calls the importer makes (which the AWS SDK's
// *iot.Client satisfies), the client set-up from the standard AWS
// configuration chain, the classification of AWS errors into throttled,
// transient, already-exists and permanent, and the preflight that checks
// the policies, thing type and thing groups exist before any device is
// touched. Nothing outside this package and the Lambda functions imports
// the SDK's IoT types.
package awsiot
