// Package format recognises a manifest's format from its first bytes and
// opens it with the right vendor reader, so users never have to say what
// they hand over; --vendor (or its deprecated alias --format) can still
// override the guess.
package format
