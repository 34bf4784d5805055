// Package testpki makes throw-away certificate authorities and device
// certificates for tests, benchmarks and the fixture generator, so the
// project can build every good and bad manifest it needs without shipping
// anybody's real certificates. Nothing here is meant for production keys.
package testpki
