// Package xmlmanifest reads the documented XML form of a certificate
// manifest (see the user documentation and specs/xml-manifest.md):
//
//	<CertificateManifest reelId="..." batchId="...">
//	  <CertificateChain slot="E0E0">...</CertificateChain>  (ignored)
//	  <Device chipId="...">
//	    <Certificate slot="E0E0">-----BEGIN CERTIFICATE-----...</Certificate>
//	    <Certificate slot="E0E2" encoding="base64-der">MIIC...</Certificate>
//	  </Device>
//	</CertificateManifest>
//
// A [Reader] is a [manifest.Source] that yields one [manifest.Record] per
// Device element (a direct child of the root), in document order. The
// record's Data is the PEM of the Device's Certificate children of the
// chosen slot: PEM text as found (surrounding white space trimmed),
// base64-der text re-encoded as a PEM CERTIFICATE block. Several elements
// of the slot are concatenated, so that validation reports the duplicate;
// none leaves Data empty. Certificate elements of other
// slots, CertificateChain (which is information, never trust), and unknown
// elements and attributes are ignored, except that private key material
// anywhere in a Device (any element's text or any attribute, see
// [manifest.HasPrivateKey]) sets the record's KeyMaterial and drops its
// Data; the text is wiped from the decoder's buffer and the reader's
// scratch. The record's Vendor is the root's vendor attribute, Infineon
// when absent. Element names are matched on their local name, so a
// namespaced document reads the same.
//
// # Streaming and memory
//
// The file is read token by token with [xml.Decoder.Token]; nothing is kept
// from one Device to the next except a few reused scratch buffers, so
// memory does not grow with the number of devices (BenchmarkRead100k shows
// allocations per device are constant).
//
// encoding/xml buffers a whole token (a text run, a comment, a tag with its
// attributes, a DOCTYPE) in memory before returning it, so the input is
// read through a counting reader that fails with [manifest.ErrTooLarge] as
// soon as more than the token cap is consumed between two calls of Token.
// The cap is max(2*Limits.MaxEntryBytes, 256 KiB): twice the entry limit
// so that a Certificate text somewhat over MaxEntryBytes is reported as
// that device's Problem (the reader goes on with the next device) rather
// than ending the whole manifest, and at least 256 KiB so that a long
// comment or CertificateChain in an honest file passes. The floor is not
// higher because a start tag made of tiny attributes costs encoding/xml
// some 50 bytes of allocation per byte of input: a 256 KiB tag allocates
// about 13 MB, a 1 MiB one about 50 MB.
//
// Certificate text is copied only up to MaxEntryBytes (a text split by
// comments or CDATA sections into many tokens is still capped), and once
// a device has a Problem its further certificates are skipped, so a device
// costs at most about twice MaxEntryBytes besides the decoder's token
// buffer. What encoding/xml keeps while elements are open (their names
// and namespace declarations) is bounded by Limits.MaxDepth times the
// token cap; since it would keep each namespace declaration's structures
// until its element ends, at most 256 declarations may be in scope at once
// (more is ErrTooLarge; an honest manifest has a handful).
//
// Other limits, all fatal with [manifest.ErrTooLarge]: more than
// Limits.MaxEntries Device elements, more than Limits.MaxTotalBytes read
// from the input, and elements nested deeper than Limits.MaxDepth (the
// root counts as depth 1). A Certificate text of the chosen slot over
// Limits.MaxEntryBytes, or a device's Data over it, is not fatal: the
// record's Problem wraps [manifest.ErrTooLarge].
//
// # Entities and DOCTYPE
//
// encoding/xml never reads external entities or DTDs and does not process
// entity declarations in an internal DOCTYPE subset: the DOCTYPE is
// returned as one Directive token (bounded by the token cap) and ignored.
// With Decoder.Strict set and no Decoder.Entity map, a reference to any
// entity other than the five predefined ones and character references is
// a syntax error. So "billion laughs" and external-entity attacks end in
// [manifest.ErrMalformed] without expanding anything.
//
// # Character encoding
//
// Only UTF-8 is accepted (an encoding declaration of US-ASCII is accepted
// too, as a subset, and read as UTF-8). Any other declared encoding ends
// the read with [manifest.ErrUnsupported] naming the encoding, and so does
// a document whose first bytes are UTF-16 or UTF-32 (a byte order mark, or
// "<" in either without one; see [Encoding]). A leading UTF-8 byte order
// mark is skipped.
//
// # Errors
//
// A fatal error is a *[manifest.Error] naming the file and, when the
// problem lies inside or after a Device, that device's entry; its message
// carries the line number. Entry is "Device[N] (line L)", N counting Device
// elements from 1 and L the line its start tag ends on.
package xmlmanifest
