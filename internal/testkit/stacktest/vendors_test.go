package stacktest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// The Microchip sample under ../shared/fixtures: 10 Trust&GO devices,
// signed by a Microchip signer the provider embeds.
const (
	sampleMicrochip       = "ECC608C-TNGTLSU-B.json"
	sampleMicrochipSHA256 = "1e4691f8604d8a1be3a39aebe1ffb4a75e22d6c69ab48f329d4b284a364b40d5"
)

// vendorManifest is a manifest for one vendor's bucket, with the trust
// anchors (PEM) to put beside it and the Things it must give.
type vendorManifest struct {
	path   string
	trust  []byte // nil: none
	things []stacktest.Thing
}

// vendorManifests are the manifests of the vendors other than Infineon
// (whose bundle TestEndToEnd and TestLambdaBinariesUnderRIE take), with
// n devices each where the test makes them.
var vendorManifests = []struct {
	vendor stack.Vendor
	key    string
	make   func(t *testing.T, n int) vendorManifest
}{
	{vendor: stack.VendorMicrochip, key: "incoming/" + sampleMicrochip, make: func(t *testing.T, _ int) vendorManifest {
		path := manifesttest.Sample(t, sampleMicrochip)
		manifesttest.CheckSHA256(t, path, sampleMicrochipSHA256)
		return vendorManifest{path: path, things: stacktest.MicrochipThings(t, path, "partNumber", "groupId", "provisioningTimestamp")}
	}},
	{vendor: stack.VendorEspressif, key: "incoming/modules 7+8.csv", make: func(t *testing.T, n int) vendorManifest {
		ca := newCA(t, "thingpress espressif test CA")
		path := filepath.Join(t.TempDir(), "modules.csv")
		return vendorManifest{path: path, trust: generate.PEM(ca.Cert), things: stacktest.EspressifCSV(t, path, ca, n)}
	}},
	{vendor: stack.VendorGenerated, key: "certificates.txt", make: func(t *testing.T, n int) vendorManifest {
		ca := newCA(t, "thingpress generated test CA")
		path := filepath.Join(t.TempDir(), "certificates.txt")
		return vendorManifest{path: path, trust: generate.PEM(ca.Cert), things: stacktest.GeneratedLines(t, path, ca, n)}
	}},
}

func newCA(t *testing.T, cn string) *generate.CA {
	t.Helper()
	ca, err := generate.NewRoot(cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// putTrust puts the trust anchors into the vendor's bucket as
// stack.TrustAnchorsKey and checks that its S3 event, handed to the
// provider, starts nothing.
func putTrust(t *testing.T, s *stacktest.Stack, bucket string, pem []byte, prov *provider.Handler) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	stacktest.WriteFile(t, path, pem)
	s.PutIn(t, bucket, stack.TrustAnchorsKey, path)
	ev, _ := s.ObjectCreatedEventIn(t, bucket, stack.TrustAnchorsKey)
	if err := prov.Handle(t.Context(), ev); err != nil {
		t.Fatalf("provider on the trust anchors' event: %v", err)
	}
	if d := s.Depth(t, s.ImportQueue); d.Total() != 0 {
		t.Fatalf("the trust anchors' upload queued messages: %+v", d)
	}
}

// TestEndToEndVendors takes each vendor's manifest through the stack in
// moto: uploaded into that vendor's bucket (beside the trust anchors the
// vendor needs), the provider invoked with the ObjectCreated event S3
// sent and configured by bucket names as template.yaml gives them, the
// import queue delivered to two importers while the proxy throttles and
// fails IoT calls; boto3 then finds every device a complete Thing.
func TestEndToEndVendors(t *testing.T) {
	const n = 12
	for _, vm := range vendorManifests {
		t.Run(string(vm.vendor), func(t *testing.T) {
			m := vm.make(t, n)
			s := stacktest.New(t, "tp-e2e-"+string(vm.vendor), stacktest.Options{
				Proxy: iotproxy.Config{
					ThrottleRate: 0.1, FaultRate: 0.05, StrictCreateThing: true, StrictAttributes: true,
					Seed: 11, Latency: time.Millisecond,
				},
				VisibilityTimeout: 1,
			})
			cfg, err := provider.ConfigFromEnv(func(k string) string { return s.Env()[k] })
			if err != nil {
				t.Fatal(err)
			}
			var metrics stacktest.Metrics
			cfg.S3, cfg.SQS, cfg.IoT = s.S3, s.SQS, s.IoT.Via
			cfg.DevicesPerMessage, cfg.Metrics, cfg.Logger = 5, emf.New(&metrics, stack.DefaultMetricsNamespace), logger(t)
			prov, err := provider.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			bucket := s.Buckets[vm.vendor]
			if m.trust != nil {
				putTrust(t, s, bucket, m.trust, prov)
			}
			s.PutIn(t, bucket, vm.key, m.path)
			ev, _ := s.ObjectCreatedEventIn(t, bucket, vm.key)
			if err := prov.Handle(t.Context(), ev); err != nil {
				t.Fatalf("provider: %v", err)
			}
			sum := s.SummaryIn(t, bucket, vm.key)
			want := len(m.things)
			if sum.Vendor != vm.vendor || sum.Valid != want || sum.Invalid != 0 || sum.Error != "" || sum.Finished == "" || sum.Slot != "" {
				t.Fatalf("summary %+v, want vendor %s and %d valid devices", sum, vm.vendor, want)
			}
			if got := metrics.Sum(stack.MetricDevicesValid, vm.key); got != float64(want) {
				t.Errorf("metric %s = %v, want %d", stack.MetricDevicesValid, got, want)
			}

			quotas := queueimport.ShareQuotas(200, 300, 2, ratelimit.PerDevice{Policies: 1, Groups: 1})
			var handlers []stacktest.ImportHandler
			for range 2 {
				h, err := queueimport.New(queueimport.Config{
					IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target, Quotas: quotas,
					MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
					ResendDelay: time.Second, MaxResendDelay: 2 * time.Second, Reserve: 2 * time.Second,
					Metrics: emf.New(&metrics, stack.DefaultMetricsNamespace), Logger: logger(t),
				})
				if err != nil {
					t.Fatal(err)
				}
				handlers = append(handlers, h.Handle)
			}
			stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: handlers, BatchSize: 2, Timeout: 20 * time.Second})
			if len(stats.Failures) != 0 {
				t.Errorf("messages reported failed: %v", stats.Failures)
			}
			if dlq := s.Receive(t, s.ImportDLQ); len(dlq) != 0 {
				t.Errorf("import dead-letter queue holds %q", dlq)
			}
			if got := metrics.Sum(stack.MetricDevicesFailed, vm.key); got != 0 {
				t.Errorf("DevicesFailed = %v, want 0", got)
			}
			if total := s.IoT.Proxy.Total(); total.Throttled == 0 && total.Faults == 0 {
				t.Errorf("the proxy injected no fault: %+v", total)
			}
			s.AssertThings(t, m.things)
		})
	}
}
