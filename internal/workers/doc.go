// Package workers is the worker pool of a run over many devices: import
// (through package pipeline), bind and remove feed it their devices and
// share its rules for Ctrl-C and for an error that stops the run. It
// depends on nothing in thingpress, so that remove need not import the
// importer to use it.
package workers
