// Package outcome counts what became of a manifest's devices, in the one
// Counts type that inspect, the import report, the provider's summary and
// the importer function all fill: after the checks (Check) or after the
// import steps (Import).
package outcome
