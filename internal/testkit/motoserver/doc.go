// Package motoserver starts a local moto server (the Python AWS emulator)
// for tests, benchmarks and the demo, so the importer can talk to a real
// restJson IoT endpoint without an AWS account. moto is started with
// iot.use_valid_cert so that it derives certificate IDs as AWS does. Tests
// use the mototest sub-package, which skips when moto is missing (and
// fails under CI=true).
package motoserver
