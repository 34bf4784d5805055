// Package espressif reads the CSV manifests Espressif ships with
// pre-provisioned ESP32 modules: a header MAC,cn,cert, then one row per
// module with its MAC (12 hex characters), a common name, and its
// certificate as a quoted, multi-line PEM.
//
// A [Reader] is a [manifest.Source] yielding one record per row, in order;
// [Reader.NextDevice] also gives the Thing name, which is the MAC
// upper-cased (Espressif prints it either way; one spelling keeps one
// Thing per module), and the cn column. Columns are found by their header
// names, in any order; a UTF-8 byte order mark is skipped. A row with a
// column count unlike the header's, a bad MAC, or a cert column without a
// PEM block is a record with a Problem; the PEM itself is left to
// validation.
//
// The file is read with encoding/csv (strict quotes) through a reader that
// caps one record at 2*Limits.MaxEntryBytes and the whole input at
// Limits.MaxTotalBytes; a CSV syntax error, a record over the cap, or more
// than Limits.MaxEntries rows ends the read with a *manifest.Error.
package espressif
