package awsconf_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/thingpress/thingpress/internal/awsconf"
)

// blackHole returns the address of a loopback listener that answers no
// connection attempt, as a firewall that drops packets: its accept queue
// (backlog 0) is filled and never accepted from, so Linux drops every
// further SYN and a dial waits until its timeout.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		var op *net.OpError
		if errors.As(err, &op) && op.Timeout() {
			return addr
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the full accept queue did not drop connection attempts")
	return ""
}

// TestConnectTimeout checks that an endpoint that drops packets fails a
// real S3 call of Load's configuration after one ConnectTimeout, not
// after the SDK's 30 s per attempt, without a retry, and that the
// message says it cannot be reached.
func TestConnectTimeout(t *testing.T) {
	addr := blackHole(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	cfg, err := awsconf.Load(t.Context(), "us-east-1", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String("http://" + addr)
	ctx, cancel := context.WithTimeout(t.Context(), 3*awsconf.ConnectTimeout)
	defer cancel()
	start := time.Now()
	_, err = awsconf.NewS3(cfg).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("b")})
	took := time.Since(start)
	if err == nil {
		t.Fatal("HeadBucket reached a black hole")
	}
	if took > 2*awsconf.ConnectTimeout {
		t.Errorf("HeadBucket took %v, want one attempt of %v", took, awsconf.ConnectTimeout)
	}
	if !awsconf.Unreachable(err) {
		t.Errorf("Unreachable(%v) = false", err)
	}
	if got := awsconf.Message(err); !strings.Contains(got, "cannot reach "+addr) || !strings.Contains(got, "--region") {
		t.Errorf("Message = %q, want it to say %s cannot be reached and what to check", got, addr)
	}
}
