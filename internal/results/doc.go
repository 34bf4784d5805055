// Package results keeps the stack's results table: one item per manifest
// with its state and counters, one per device with its outcome, written
// so that a message delivered more than once counts its devices once,
// and the final summary and notification of a manifest that is done.
package results
