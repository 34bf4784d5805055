package awsconf_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/testkit/closedport"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile eu]\nregion = eu-west-1\naws_access_key_id = test\naws_secret_access_key = test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
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
		{name: "unknown profile", profile: "nosuch", wantErr: awsconf.ErrProfile},
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

// TestLoadWithoutCredentials checks that Load says no credentials were
// found, and what to run, instead of the SDK's chain of failed providers.
func TestLoadWithoutCredentials(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile bare]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	// No instance role either: IMDS is turned off.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	tests := []struct {
		name, profile, want string
	}{
		{name: "default chain", want: "run `aws configure`, or pass --profile"},
		{name: "profile", profile: "bare", want: `for profile "bare"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := awsconf.Load(t.Context(), "us-east-1", tc.profile)
			if !errors.Is(err, awsconf.ErrNoCredentials) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %v saying %q", err, awsconf.ErrNoCredentials, tc.want)
			}
			if strings.Contains(err.Error(), "operation error") || strings.Contains(err.Error(), "IMDS") {
				t.Errorf("error %q shows the SDK's text", err)
			}
		})
	}
}

// TestRetryerUnreachable checks that a refused connection or a host name
// that does not exist is not retried, and a reset connection still is.
func TestRetryerUnreachable(t *testing.T) {
	closed := closedport.Addr(t)
	var d net.Dialer
	_, refused := d.DialContext(t.Context(), "tcp", closed)
	if refused == nil {
		t.Skip("a closed port accepted a connection")
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "connection refused", err: &smithyhttp.RequestSendError{Err: refused}, want: false},
		{name: "no such host", err: &smithyhttp.RequestSendError{Err: &net.DNSError{Err: "no such host", Name: "iot.us-eest-1.amazonaws.com", IsNotFound: true}}, want: false},
		{name: "connection reset", err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}}, want: true},
	}
	r := awsconf.Retryer(3)()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.IsErrorRetryable(tc.err); got != tc.want {
				t.Errorf("IsErrorRetryable = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("message", func(t *testing.T) {
		got := awsconf.Message(fmt.Errorf("operation error S3: PutObject: %w", refused))
		if !strings.Contains(got, "cannot connect to "+closed) || !strings.Contains(got, "--region") {
			t.Errorf("Message = %q", got)
		}
	})
}

func TestHint(t *testing.T) {
	api := func(code string) error {
		return fmt.Errorf("operation error IoT: GetPolicy: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "bad keys", err: api("UnrecognizedClientException"), want: "`aws configure`"},
		{name: "expired", err: api("ExpiredTokenException"), want: "have expired"},
		{name: "denied", err: api("AccessDeniedException"), want: "lacks a permission"},
		{name: "not found", err: api("ResourceNotFoundException"), want: ""},
		{name: "not an AWS error", err: errors.New("x"), want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := awsconf.Hint(tc.err)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Hint = %q, want one with %q", got, tc.want)
			}
		})
	}
}
