// Package awsiot is thingpress's edge to the AWS IoT control plane: the
// small interfaces of the calls import, bind, verify and remove make
// (which the SDK's *iot.Client satisfies), client set-up, the Caller that
// paces and retries those calls (the one retry loop of IoT calls), the
// classification of AWS errors into throttled, transient, already-exists,
// unsent (never reached the endpoint) and permanent, and the preflight that checks policies, thing type and
// groups exist before any device is touched.
package awsiot
