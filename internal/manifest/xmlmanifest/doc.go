// Package xmlmanifest reads the XML form of a certificate manifest
// (<CertificateManifest> with one <Device> per chip), streaming it token by
// token so that memory does not grow with the number of devices.
//
// Untrusted input is capped per token, per device, in depth and in total,
// entities are never expanded, and only UTF-8 is read; every fatal error is
// a *manifest.Error naming the file (and the device it lies in, if any).
// docs/design.md ("The XML manifest form") describes the form and limits.
package xmlmanifest
