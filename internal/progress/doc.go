// Package progress tells a person how far an import is: a bar with
// done/total, rate and ETA on a terminal, a plain line every few seconds
// in a log.
package progress
