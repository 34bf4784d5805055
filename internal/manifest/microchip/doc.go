// Package microchip reads the manifests Microchip ships with Trust&GO,
// TrustFLEX and TrustCUSTOM secure elements: a JSON array with one JWS per
// chip (RFC 7515, flattened serialisation). Nothing in an entry is trusted
// before its ES256 signature verifies against a manifest signer (Microchip's
// own, built in, by default), and identity comes from the signed payload
// only. docs/design.md ("Microchip manifests") gives the checks and limits.
package microchip
