// Package importtest is test tooling for the importer's and the
// pipeline's tests: an importer on moto behind iotproxy, and a fleet of
// test devices to run through it.
package importtest
