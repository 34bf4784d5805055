package mototest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/thingpress/thingpress/internal/testkit/motoserver"
)

// shared is the one server of a package whose TestMain calls Main.
var shared struct {
	on   bool
	busy sync.Mutex // held by the test using it
	once sync.Once
	srv  *motoserver.Server
	err  error
}

// Main runs the tests of m with one moto server, started when a test first
// asks for it: StartT then gives each test that server, reset to empty,
// instead of starting a process of its own. A test that asks while another
// holds it (a parallel test, or a second server in one test) gets its own.
// Call it from TestMain as os.Exit(mototest.Main(m)).
func Main(m *testing.M) int {
	shared.on = true
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop moto: %v\n", err)
			code = max(code, 1)
		}
	}
	return code
}

// StartT starts a moto server for t and stops it when t ends (under Main:
// hands t the shared server, reset). When python3 or moto is missing it
// skips t, or fails it when the environment variable CI is "true" (a CI
// job must not pass by skipping everything).
func StartT(t testing.TB) *motoserver.Server {
	t.Helper()
	if err := motoserver.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto is required under CI=true: %v", err)
		}
		t.Skipf("moto not available: %v", err)
	}
	opts := motoserver.Options{}
	if testing.Verbose() && os.Getenv("MOTO_LOG") != "" {
		opts.Stderr = os.Stderr
	}
	if shared.on && shared.busy.TryLock() {
		t.Cleanup(shared.busy.Unlock)
		// The process outlives t: only its start is bound to t.Context().
		shared.once.Do(func() { shared.srv, shared.err = motoserver.Start(t.Context(), opts) })
		if shared.err != nil {
			t.Fatalf("start moto: %v", shared.err)
		}
		if err := shared.srv.ResetContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		return shared.srv
	}
	s, err := motoserver.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start moto: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop moto: %v", err)
		}
	})
	return s
}

// AWSConfig returns motoserver.AWSConfig for endpoint, failing t on error.
func AWSConfig(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	cfg, err := motoserver.AWSConfig(t.Context(), endpoint)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}
