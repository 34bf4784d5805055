// Package testbundle builds manifests for tests, benchmarks and the
// genmanifest tool: small hand-described 7z bundles (Spec, Write, Build)
// and large synthetic reels signed by a throw-away CA from
// internal/testpki (Generate, in the Infineon bundle layout or the XML
// manifest form), with optional bad devices for every validation failure.
//
// The 7z archives are made by the 7z command-line tool (p7zip), so that
// the readers are tested against archives made by the real 7-Zip and not
// by a writer of our own. Nothing here is used by the importer itself.
package testbundle
