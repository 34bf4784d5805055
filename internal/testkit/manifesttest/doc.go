// Package manifesttest is test tooling shared by the manifest readers'
// tests: golden files, hostile streams, the shared samples, and checks of
// what a reader yields. Only _test.go files may import it.
package manifesttest
