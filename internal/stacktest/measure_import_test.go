package stacktest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/iotproxy"
	"github.com/thingpress/thingpress/internal/iottest"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stacktest"
	"github.com/thingpress/thingpress/internal/testbundle"
	"github.com/thingpress/thingpress/internal/trust"
)

// TestMeasureImporters measures the aggregate import rate of four
// concurrent importers (IMPORTER_MAX_CONCURRENCY=4, each with its own
// rate limiters, as four execution environments have) behind the proxy
// enforcing AWS IoT's default quotas, as a fraction of the ceiling those
// quotas set (RegisterCertificateWithoutCA, 10 a second):
//
//	THINGPRESS_MEASURE_IMPORTERS=2000 go test -run TestMeasureImporters -v -timeout 30m ./internal/stacktest/
//
// The provider queues the devices of a generated manifest (25 a
// message); the importers take batches of 10 messages, as the template's
// event source gives them.
func TestMeasureImporters(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("THINGPRESS_MEASURE_IMPORTERS"))
	if n <= 0 {
		t.Skip("set THINGPRESS_MEASURE_IMPORTERS to a device count to measure")
	}
	const concurrency = 4
	quotas := iotproxy.DefaultQuotas()
	ceiling := quotas[ratelimit.OpRegisterCertificateWithoutCA]
	s := stacktest.New(t, "tp-rate", stacktest.Options{
		Proxy:             iotproxy.Config{Quotas: quotas, Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond},
		VisibilityTimeout: 900,
	})
	dir := t.TempDir()
	res, err := testbundle.Generate(filepath.Join(dir, "reel.xml"), testbundle.Options{N: n, Format: testbundle.FormatXML, Slots: []string{"E0E0"}})
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := trust.FromPEM(res.PKI.PEM())
	if err != nil {
		t.Fatal(err)
	}
	const key = "reel.xml"
	s.Put(t, key, res.Path)
	ev, _ := s.ObjectCreatedEvent(t, key)
	var metrics stacktest.Metrics
	prov, err := provider.New(provider.Config{S3: s.S3, SQS: s.SQS, IoT: s.IoT.Direct, QueueURL: s.ImportQueue, Target: target,
		Trust: anchors, Metrics: emf.New(&metrics, "Thingpress"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := prov.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}

	share := queueimport.ShareQuotas(ceiling, quotas[ratelimit.OpAttachPolicy], concurrency, ratelimit.PerDevice{Policies: 1, Groups: 1})
	var handlers []stacktest.ImportHandler
	var limits []*ratelimit.Set
	for range concurrency {
		h, err := queueimport.New(queueimport.Config{IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target,
			Quotas: share, Metrics: emf.New(&metrics, "Thingpress"), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h.Handle)
		limits = append(limits, h.Limits())
	}
	s.IoT.Proxy.ResetStats()
	start := time.Now()
	stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: handlers, BatchSize: 10, Timeout: 15 * time.Minute, Limit: 25 * time.Minute})
	elapsed := time.Since(start)

	imported := metrics.Sum(stack.MetricDevicesImported, "") + metrics.Sum(stack.MetricDevicesExisting, "")
	rate := imported / elapsed.Seconds()
	reg := s.IoT.Proxy.Stats()[ratelimit.OpRegisterCertificateWithoutCA]
	t.Logf("%d importers at %.2f registrations/s each: %.0f devices in %s = %.2f devices/s, %.1f%% of the %.0f/s ceiling; "+
		"%d invocations; RegisterCertificateWithoutCA calls %d, throttled %d; throttled retries %v, devices sent back %v",
		concurrency, share[ratelimit.OpRegisterCertificateWithoutCA], imported, elapsed.Round(time.Millisecond), rate, 100*rate/ceiling, ceiling,
		stats.Invocations, reg.Calls, reg.Throttled, metrics.Sum(stack.MetricThrottledRetries, ""), metrics.Sum(stack.MetricDevicesRequeued, ""))
	if imported != float64(n) {
		t.Errorf("imported %v devices, want %d", imported, n)
	}
	devs := make([]iottest.Device, n)
	for i := range devs {
		chip := testbundle.ChipID(res.ReelID, i)
		devs[i] = iottest.Device{ThingName: testbundle.CommonName(res.ReelID, chip, "E0E0"), ChipID: chip, ReelID: res.ReelID}
	}
	s.IoT.AssertComplete(t, devs)
}
