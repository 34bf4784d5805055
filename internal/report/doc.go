// Package report writes what became of every device of an import: one
// JSON object per device (JSON Lines) and a closing summary, so that a
// person or a script can find each device that was not imported and why.
package report
