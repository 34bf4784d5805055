// Package generate makes test material for thingpress without chips: a
// throw-away test CA (and, for Microchip, a test manifest signer) and
// manifests of any size in every input format the readers take, with good
// and, on request, bad devices of every kind the checks refuse. It is
// product code because `thingpress generate` lets a user try the whole
// pipeline (inspect, import) before the first real reel arrives; the
// project's tests and benchmarks use it too. Nothing it makes is meant to
// hold production keys: the keys are fresh, shared between devices and
// thrown away.
package generate
