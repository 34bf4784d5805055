// Package testkit holds no code of its own: its subpackages are the
// project's test tooling (moto and the IoT fault proxy, stack and bundle
// builders, test PKI, reader test helpers). Only tests and tools/ import
// them; TestProductDoesNotImport keeps it so.
package testkit
