package closedport_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/closedport"
)

// TestAddr: a dial is refused, and nobody can listen on the port while
// the test holds it.
func TestAddr(t *testing.T) {
	addr := closedport.Addr(t)
	var d net.Dialer
	if c, err := d.DialContext(t.Context(), "tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("listened on %s, which the test holds", addr)
	}
}
