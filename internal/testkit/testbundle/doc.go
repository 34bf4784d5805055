// Package testbundle builds manifests for tests, benchmarks and the
// genmanifest tool: small hand-described 7z bundles and large synthetic
// reels (Infineon bundle or XML form) signed by a throw-away CA, with
// optional bad devices for every validation failure. The 7z archives are
// made by the real 7-Zip command-line tool, not by a writer of our own.
// Nothing here is used by the importer itself.
package testbundle
