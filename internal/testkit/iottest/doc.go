// Package iottest gives integration tests a local AWS IoT: moto behind the
// fault-injecting proxy, with a policy, a thing type and a thing group, and
// a check that devices ended up complete in it. Only tests import it.
package iottest
