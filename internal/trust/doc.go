// Package trust decides whether a device certificate comes from the chip
// maker it claims to. A reel bundle carries no signature of its own, so
// checking every certificate's chain against the maker's public CAs is the
// only authenticity check there is.
//
// The Infineon OPTIGA Trust M CAs are embedded in the binary; a PEM file
// can replace them. A store pre-verifies its intermediates against its
// roots once and pools them with the roots as the anchors that
// crypto/x509 verifies a device against, so checking a device costs one
// signature verification. Each way a chain fails has its own reason
// (unknown issuer, bad signature, issuer expired, issuer not a CA, ...),
// naming the CA at fault; all wrap ErrUntrusted.
package trust
