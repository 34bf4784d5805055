// Package mototest gives tests and benchmarks a moto server with one call.
// It is separate from motoserver so that programs importing motoserver
// (the demo) do not link the testing package.
package mototest
