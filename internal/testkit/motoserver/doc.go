// Package motoserver starts a local moto server (the Python AWS emulator)
// for tests, benchmarks and the demo, so the importer can talk to a real
// restJson IoT endpoint without an AWS account.
//
// The server is launched through a small Python launcher that sets moto's
// iot.use_valid_cert option before moto is imported. With it, moto derives
// certificate IDs as AWS does (lower-case hex SHA-256 of the DER); without
// it moto hashes the PEM text instead.
//
// Start runs one server on a loopback port and returns once it answers
// HTTP; Stop ends it (the whole process group, since python3 may be a shim
// that forks the real interpreter). Tests use the helper in the mototest
// sub-package, which skips when moto is missing (and fails under CI=true).
//
// moto differs from AWS in ways an importer must not rely on: it never
// throttles, and some idempotency rules differ. See the tests in this
// package for the behaviours that were checked against moto 5.2.1.
package motoserver
