// Package testkit holds no code of its own: its subpackages are the
// project's test tooling (moto and the IoT fault proxy, stack and bundle
// builders, reader test helpers). Only tests import them;
// TestProductDoesNotImport keeps it so. Test certificates and manifests
// come from internal/generate, which users run too.
package testkit
