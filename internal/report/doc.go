// Package report writes what became of every device of an import: one
// JSON object per device (JSON Lines: each importer.Result) and a
// closing Summary (outcome.Counts and the run's calls and time), so that a
// person or a script can find each device that was not imported and why.
package report
