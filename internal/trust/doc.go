// Package trust decides whether a device certificate comes from the chip
// maker it claims to. A reel bundle carries no signature of its own, so
// checking every certificate's chain against the maker's public CAs (the
// Infineon ones embedded, or a PEM file) is the only authenticity check
// there is. Each way a chain fails has its own reason; all wrap
// ErrUntrusted.
package trust
