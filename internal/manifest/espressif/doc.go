// Package espressif reads the CSV manifests Espressif ships with
// pre-provisioned ESP32 modules (MAC, cn and a PEM certificate per row),
// yielding one record per row with the upper-cased MAC as Thing name. Rows
// and the whole input are capped; docs/design.md ("Espressif manifests")
// has the details.
package espressif
