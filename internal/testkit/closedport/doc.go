// Package closedport gives tests a loopback address that refuses every
// connection for as long as the test runs. A port taken by listening and
// closing again can be handed to another program (another test binary's
// server) before the test dials it; a socket bound and never listened on
// keeps the port, and the kernel refuses connections to it.
package closedport
