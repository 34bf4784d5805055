//go:build !unix

package closedport

import (
	"net"
	"testing"
)

// Addr returns host:port on 127.0.0.1 that nothing listens on; here the
// port is only free, not held.
func Addr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
