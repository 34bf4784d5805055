// Package manifest holds what every manifest reader shares: the device
// record a reader yields, the Source interface that yields them, the input
// limits that keep hostile manifests from exhausting memory or disk (and
// CappedReader, which enforces them on a stream), and the errors that name
// the file and device a problem belongs to. Vendor readers live in
// sub-packages; package format detects which one a file needs.
package manifest
