// Package validate turns the raw records of a manifest (manifest.Record)
// into checked devices (Checked) that are either ready to import or carry
// the reason they are not (key material, bad IDs, certificate profile,
// chain, thing name, duplicates); Label names each reason in a word or two.
// Records are checked in parallel and delivered in manifest order; the same
// checks serve inspect, import and the Lambda provider. docs/design.md
// ("Trust and validation") lists every check.
package validate
