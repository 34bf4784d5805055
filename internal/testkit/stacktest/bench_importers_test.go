package stacktest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

// BenchmarkImporters measures the aggregate import rate of four
// concurrent importers (IMPORTER_MAX_CONCURRENCY=4, each with its own
// rate limiters, as four execution environments have) behind the proxy
// enforcing AWS IoT's default quotas, as a fraction of the ceiling those
// quotas set (RegisterCertificateWithoutCA, 10 a second). It imports
// 2,000 devices per iteration (80 messages: enough for each importer to
// take several batches of 10; with fewer, some importers sit idle and
// the rate measures that), or THINGPRESS_MEASURE_IMPORTERS of them:
//
//	go test -run '^$' -bench BenchmarkImporters -benchtime 1x -timeout 30m ./internal/stacktest/
//
// The provider queues the devices of a generated manifest (25 a
// message); the importers take batches of 10 messages, as the template's
// event source gives them. Every device must end complete in moto.
func BenchmarkImporters(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("THINGPRESS_MEASURE_IMPORTERS")); err == nil && v > 0 {
		n = v
	}
	var devices float64
	var elapsed time.Duration
	for range b.N {
		d, rate, e := measureImporters(b, n)
		devices += d
		elapsed += e
		b.Logf("%s", rate)
	}
	rate := devices / elapsed.Seconds()
	b.ReportMetric(rate, "devices/s")
	b.ReportMetric(100*rate/iotproxy.DefaultQuotas()[ratelimit.OpRegisterCertificateWithoutCA], "%-of-ceiling")
}

// measureImporters imports n devices through four importers and returns
// the devices imported, a line that says how it went, and the time the
// importers took.
func measureImporters(b *testing.B, n int) (float64, string, time.Duration) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	const concurrency = 4
	quotas := iotproxy.DefaultQuotas()
	ceiling := quotas[ratelimit.OpRegisterCertificateWithoutCA]
	s := stacktest.New(b, "tp-rate", stacktest.Options{
		Proxy:             iotproxy.Config{Quotas: quotas, Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond},
		VisibilityTimeout: 900,
	})
	dir := b.TempDir()
	res, err := generate.Write(filepath.Join(dir, "reel.xml"), generate.Options{N: n, Format: generate.FormatXML, Slots: []string{"E0E0"}})
	if err != nil {
		b.Fatal(err)
	}
	anchors, err := trust.FromPEM(res.PKI.PEM())
	if err != nil {
		b.Fatal(err)
	}
	const key = "reel.xml"
	s.Put(b, key, res.Path)
	ev, _ := s.ObjectCreatedEvent(b, key)
	var metrics stacktest.Metrics
	prov, err := provider.New(provider.Config{S3: s.S3, SQS: s.SQS, IoT: s.IoT.Direct, QueueURL: s.ImportQueue, Target: target,
		Trust: anchors, Metrics: emf.New(&metrics, "Thingpress"), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := prov.Handle(b.Context(), ev); err != nil {
		b.Fatal(err)
	}

	share := queueimport.ShareQuotas(ceiling, quotas[ratelimit.OpAttachPolicy], concurrency, ratelimit.PerDevice{Policies: 1, Groups: 1})
	var handlers []stacktest.ImportHandler
	for range concurrency {
		h, err := queueimport.New(queueimport.Config{IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target,
			Quotas: share, Metrics: emf.New(&metrics, "Thingpress"), Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		handlers = append(handlers, h.Handle)
	}
	s.IoT.Proxy.ResetStats()
	b.StartTimer()
	start := time.Now()
	stats := s.Deliver(b, stacktest.DeliverOptions{Handlers: handlers, BatchSize: 10, Timeout: 15 * time.Minute, Limit: 25 * time.Minute})
	elapsed := time.Since(start)
	b.StopTimer()

	imported := metrics.Sum(stack.MetricDevicesImported, "") + metrics.Sum(stack.MetricDevicesExisting, "")
	rate := imported / elapsed.Seconds()
	reg := s.IoT.Proxy.Stats()[ratelimit.OpRegisterCertificateWithoutCA]
	line := fmt.Sprintf("%d importers at %.2f registrations/s each: %.0f devices in %s = %.2f devices/s, %.1f%% of the %.0f/s ceiling; "+
		"%d invocations; RegisterCertificateWithoutCA calls %d, throttled %d; throttled retries %v, devices sent back %v",
		concurrency, share[ratelimit.OpRegisterCertificateWithoutCA], imported, elapsed.Round(time.Millisecond), rate, 100*rate/ceiling, ceiling,
		stats.Invocations, reg.Calls, reg.Throttled, metrics.Sum(stack.MetricThrottledRetries, ""), metrics.Sum(stack.MetricDevicesRequeued, ""))
	if imported != float64(n) {
		b.Errorf("imported %v devices, want %d", imported, n)
	}
	devs := make([]iottest.Device, n)
	for i := range devs {
		chip := generate.ChipID(res.ReelID, i)
		devs[i] = iottest.Device{ThingName: generate.CommonName(res.ReelID, chip, "E0E0"), ChipID: chip, ReelID: res.ReelID}
	}
	s.IoT.AssertComplete(b, devs)
	return imported, line, elapsed
}
