package lambdarun_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/stack"
)

func env(m map[string]string) lambdarun.Env { return func(k string) string { return m[k] } }

func TestEnv(t *testing.T) {
	e := env(map[string]string{"S": " x ", "L": "a, ,b,", "I": "25", "BADI": "2x", "BIG": "5000", "F": "2.5", "NEGF": "-1"})
	job := func(m map[string]string) func() (any, error) {
		return func() (any, error) {
			url, tgt, err := env(m).Job()
			return url + " " + strings.Join(tgt.Policies, "|"), err
		}
	}
	tests := []struct {
		name    string
		got     func() (any, error)
		want    any
		wantErr bool
	}{
		{name: "string trimmed", got: func() (any, error) { return e.String("S", "d"), nil }, want: "x"},
		{name: "string default", got: func() (any, error) { return e.String("NONE", "d"), nil }, want: "d"},
		{name: "required missing", got: func() (any, error) { return e.Required("NONE") }, wantErr: true},
		{name: "list", got: func() (any, error) { return strings.Join(e.List("L"), "|"), nil }, want: "a|b"},
		{name: "empty list", got: func() (any, error) { return len(e.List("NONE")), nil }, want: 0},
		{name: "int", got: func() (any, error) { return e.Int("I", 1, 1, 100) }, want: int64(25)},
		{name: "int default", got: func() (any, error) { return e.Int("NONE", 7, 1, 100) }, want: int64(7)},
		{name: "int not a number", got: func() (any, error) { return e.Int("BADI", 1, 1, 100) }, wantErr: true},
		{name: "int out of range", got: func() (any, error) { return e.Int("BIG", 1, 1, 1000) }, wantErr: true},
		{name: "float", got: func() (any, error) { return e.Float("F", 1) }, want: 2.5},
		{name: "float default", got: func() (any, error) { return e.Float("NONE", 10) }, want: 10.0},
		{name: "float negative", got: func() (any, error) { return e.Float("NEGF", 1) }, wantErr: true},
		{name: "job", got: job(map[string]string{stack.EnvImportQueueURL: " q ", stack.EnvPolicyNames: "p1,p2"}), want: "q p1|p2"},
		{name: "job without a queue", got: job(map[string]string{stack.EnvPolicyNames: "p1"}), wantErr: true},
		{name: "job without a policy", got: job(map[string]string{stack.EnvImportQueueURL: "q"}), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, lambdarun.ErrEnv) {
					t.Errorf("error %v is not ErrEnv", err)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "space and plus", in: "reel+a%2Bb.7z", want: "reel a+b.7z"},
		{name: "slash encoded or not", in: "in%2Freel+1.xml", want: "in/reel 1.xml"},
		{name: "plain", in: "in/reel.7z", want: "in/reel.7z"},
		{name: "unicode", in: "r%C3%A9el.7z", want: "réel.7z"},
		{name: "bad escape", in: "reel%zz.7z", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lambdarun.DecodeKey(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("DecodeKey(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err == nil {
				if k := lambdarun.ManifestKey(lambdarun.ManifestURI("bucket", got)); k != got {
					t.Errorf("ManifestKey(ManifestURI(%q)) = %q", got, k)
				}
			}
		})
	}
	if k := lambdarun.ManifestKey("not a uri"); k != "not a uri" {
		t.Errorf("ManifestKey of a non-URI = %q", k)
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantDebug bool
		wantInfo  bool
	}{
		{name: "default info", wantInfo: true},
		{name: "Lambda's log level", env: map[string]string{"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, wantDebug: true, wantInfo: true},
		{name: "LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "warn"}},
		{name: "unknown level", env: map[string]string{"LOG_LEVEL": "loud"}, wantInfo: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			l := lambdarun.Logger(&b, env(tc.env))
			ctx := t.Context()
			if l.Enabled(ctx, slog.LevelDebug) != tc.wantDebug || l.Enabled(ctx, slog.LevelInfo) != tc.wantInfo {
				t.Fatalf("debug %v info %v", l.Enabled(ctx, slog.LevelDebug), l.Enabled(ctx, slog.LevelInfo))
			}
			l.Error("x", "k", "v")
			if !strings.HasPrefix(b.String(), `{"time":`) || !strings.Contains(b.String(), `"k":"v"`) {
				t.Errorf("not a JSON line: %q", b.String())
			}
		})
	}
}

// TestStart checks the clients a function starts with: the SDK retries
// S3 and SQS calls (Attempts), not the IoT calls the importer retries.
func TestStart(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	tests := []struct {
		name    string
		region  string
		wantErr error
	}{
		{name: "region set", region: "eu-west-1"},
		{name: "no region", wantErr: lambdarun.ErrEnv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tc.region)
			t.Setenv("AWS_DEFAULT_REGION", "")
			var stdout, stderr bytes.Buffer
			f, err := lambdarun.Start(t.Context(), env(nil), &stdout, &stderr, awsiot.ClientOptions{MaxConns: 2})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Config.Region != tc.region || f.Logger == nil || f.Metrics == nil {
				t.Fatalf("function %+v", f)
			}
			if n := f.SQS.Options().Retryer.MaxAttempts(); n != lambdarun.Attempts {
				t.Errorf("SQS makes %d attempts, want %d", n, lambdarun.Attempts)
			}
			if n := f.S3.Options().Retryer.MaxAttempts(); n != lambdarun.Attempts {
				t.Errorf("S3 makes %d attempts, want %d", n, lambdarun.Attempts)
			}
			if n := f.IoT.Options().Retryer.MaxAttempts(); n != 1 {
				t.Errorf("IoT makes %d attempts, want 1 (the importer retries)", n)
			}
		})
	}
}
