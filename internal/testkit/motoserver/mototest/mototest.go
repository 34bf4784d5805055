// Package mototest gives tests and benchmarks a moto server with one call.
// It is separate from motoserver so that programs importing motoserver
// (the demo) do not link the testing package.
package mototest

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/thingpress/thingpress/internal/testkit/motoserver"
)

// StartT starts a moto server for t and stops it when t ends. When python3
// or moto is missing it skips t, or fails it when the environment variable
// CI is "true" (a CI job must not pass by skipping everything).
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
