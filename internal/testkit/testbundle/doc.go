// Package testbundle builds small hand-described 7z archives for tests
// (Infineon-like bundles and any other archive a test needs) with the
// real 7-Zip command-line tool, not a writer of our own. Synthetic reels
// of any size come from internal/generate. Nothing here is used by the
// importer itself.
package testbundle
