// Package stack is the contract between the SAM template (template.yaml)
// and the Lambda functions that run thingpress on AWS: the environment
// variables the template sets and the functions read, the shape of the
// import queue's messages (each device an importer.Device, with the steps
// already done when it is sent back), and where and in what form manifest
// summaries are written (outcome.Counts, in the bucket's JSON). The
// template test checks the template against these names, so the two
// cannot drift apart.
package stack
