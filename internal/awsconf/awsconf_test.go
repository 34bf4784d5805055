package awsconf_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/thingpress/thingpress/internal/awsconf"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile eu]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	tests := []struct {
		name, region, profile, env string
		wantRegion                 string
		wantErr                    error
	}{
		{name: "nothing configured", wantErr: awsconf.ErrNoRegion},
		{name: "region flag", region: "us-west-2", wantRegion: "us-west-2"},
		{name: "environment", env: "ap-south-1", wantRegion: "ap-south-1"},
		{name: "flag over environment", region: "us-west-2", env: "ap-south-1", wantRegion: "us-west-2"},
		{name: "profile's region", profile: "eu", wantRegion: "eu-west-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("AWS_REGION", tc.env)
			}
			cfg, err := awsconf.Load(t.Context(), tc.region, tc.profile)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.wantRegion {
				t.Errorf("region %q, want %q", cfg.Region, tc.wantRegion)
			}
		})
	}
}

// TestRetries counts the attempts the real S3 client of NewS3 makes
// against a server that always answers 503, and checks that an endpoint
// override serves buckets by path.
func TestRetries(t *testing.T) {
	tests := []struct {
		name  string
		more  []func(*config.LoadOptions) error
		wantN int
	}{
		{name: "default", wantN: awsconf.DefaultAttempts},
		{name: "eight", more: []func(*config.LoadOptions) error{config.WithRetryer(awsconf.Retryer(8))}, wantN: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			var path atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				path.Store(r.URL.Path)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			t.Setenv("AWS_ENDPOINT_URL", srv.URL)
			cfg, err := awsconf.Load(t.Context(), "us-east-1", "", tc.more...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = awsconf.NewS3(cfg).HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String("reels")})
			if err == nil {
				t.Fatal("HeadBucket succeeded against a server that answers 503")
			}
			if got := int(n.Load()); got != tc.wantN {
				t.Errorf("%d attempts, want %d", got, tc.wantN)
			}
			if p, _ := path.Load().(string); p != "/reels" {
				t.Errorf("request path %q, want /reels (path style)", p)
			}
		})
	}
}
