// Package pipeline is the CLI's import of a whole manifest: it reads and
// checks every device (package validate), hands the valid ones to
// importer.Importer on a pool of workers, and reports every device's
// importer.Result, invalid ones as skipped, in one stream that the
// caller counts (outcome.Counts) and writes (package report). The Lambda
// functions split the same stages between them: the provider validates,
// the importer function runs the device steps.
package pipeline
