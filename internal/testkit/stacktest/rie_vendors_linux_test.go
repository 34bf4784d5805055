//go:build linux

package stacktest_test

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// TestLambdaBinariesUnderRIEVendors runs the real bootstrap binaries under
// the emulator, configured only by the environment template.yaml sets
// (bucket names included) plus an endpoint aimed at moto, on each vendor's
// manifest uploaded into its bucket: the provider on the S3 events of the
// trust anchors and of the manifest, then the importer on the queue's
// messages; boto3 then finds every device a complete Thing.
func TestLambdaBinariesUnderRIEVendors(t *testing.T) {
	rie := lookRIE(t)
	if testing.Short() {
		t.Skip("builds and runs the functions")
	}
	bin := t.TempDir()
	built := buildLambdas(t, runtime.GOARCH, bin)
	provider, importer := built["provider"], built["importer"]
	const n = 7
	for _, vm := range vendorManifests {
		t.Run(string(vm.vendor), func(t *testing.T) {
			m := vm.make(t, n)
			s := stacktest.New(t, "tp-rie-"+string(vm.vendor), stacktest.Options{VisibilityTimeout: 5})
			env := map[string]string{
				"PATH":                        os.Getenv("PATH"),
				"TMPDIR":                      t.TempDir(),
				"AWS_REGION":                  motoserver.Region,
				"AWS_ACCESS_KEY_ID":           "testing",
				"AWS_SECRET_ACCESS_KEY":       "testing",
				"AWS_ENDPOINT_URL":            s.Moto.URL,
				"AWS_CONFIG_FILE":             filepath.Join(bin, "no-config"),
				"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(bin, "no-credentials"),
				"AWS_LAMBDA_FUNCTION_TIMEOUT": "120",
				stack.EnvDevicesPerMessage:    "3",
				stack.EnvImporterConcurrency:  "1",
				stack.EnvQuotaRegister:        "100",
				stack.EnvQuotaAttachPolicy:    "100",
				stack.EnvNoVerifyChain:        "false",
			}
			maps.Copy(env, s.Env())
			prov := startRIE(t, rie, provider, env)
			ctx := t.Context()
			invoke := func(event []byte) {
				t.Helper()
				if out, err := prov.invoke(ctx, event); err != nil || strings.TrimSpace(string(out)) != "null" {
					t.Fatalf("provider: %s, %v", out, err)
				}
			}
			bucket := s.Buckets[vm.vendor]
			if m.trust != nil {
				// Before the trust anchors are there: refused for good,
				// with how to give them.
				early := "early/" + vm.key
				s.PutIn(t, bucket, early, m.path)
				_, event := s.ObjectCreatedEventIn(t, bucket, early)
				invoke(event)
				if sum := s.SummaryIn(t, bucket, early); sum.Valid != 0 || !strings.Contains(sum.Error, stack.TrustAnchorsKey) || !strings.Contains(sum.Error, "NoVerifyChain=true") {
					t.Fatalf("summary without trust anchors %+v, want an error naming %s and NoVerifyChain", sum, stack.TrustAnchorsKey)
				}
				path := filepath.Join(t.TempDir(), "ca.pem")
				stacktest.WriteFile(t, path, m.trust)
				s.PutIn(t, bucket, stack.TrustAnchorsKey, path)
				_, event = s.ObjectCreatedEventIn(t, bucket, stack.TrustAnchorsKey)
				invoke(event)
				if d := s.Depth(t, s.ImportQueue); d.Total() != 0 {
					t.Fatalf("the trust anchors' upload queued messages: %+v", d)
				}
			}
			s.PutIn(t, bucket, vm.key, m.path)
			_, event := s.ObjectCreatedEventIn(t, bucket, vm.key)
			invoke(event)
			sum := s.SummaryIn(t, bucket, vm.key)
			want := len(m.things)
			wantMessages := (want + 2) / 3
			if sum.Vendor != vm.vendor || sum.Valid != want || sum.Invalid != 0 || sum.Messages != wantMessages || sum.Error != "" {
				t.Fatalf("summary %+v, want vendor %s, %d valid devices in %d messages", sum, vm.vendor, want, wantMessages)
			}

			imp := startRIE(t, rie, importer, env)
			handle := imp.sqsHandler()
			stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{handle}, BatchSize: 4, Timeout: 60 * time.Second})
			if stats.Messages != wantMessages || len(stats.Failures) != 0 {
				t.Errorf("delivery %+v, want %d messages and no failure", stats, wantMessages)
			}
			s.AssertThings(t, m.things)
		})
	}
}
