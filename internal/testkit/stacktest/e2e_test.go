package stacktest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

var target = awsiot.Target{Policies: []string{iottest.Policy}, ThingType: iottest.ThingType, ThingGroups: []string{iottest.Group}}

// TestEndToEnd is the stack's flow against one moto: a bundle uploaded
// under a key that S3 must URL-encode, the provider invoked with the
// ObjectCreated event S3 sent, the import queue delivered in batches to
// two importers while the proxy throttles, fails and drops IoT calls,
// with one malformed message among the rest.
func TestEndToEnd(t *testing.T) {
	const good = 60
	res, devices := bundle(t, good)
	s := stacktest.New(t, "tp-e2e", stacktest.Options{
		Proxy: iotproxy.Config{
			ThrottleRate: 0.1, FaultRate: 0.1, DropRate: 0.05, DropAfterForward: 0.5,
			StrictCreateThing: true, Seed: 7, Latency: time.Millisecond,
		},
		MaxReceiveCount:   3,
		VisibilityTimeout: 1,
	})
	ctx := t.Context()
	const key = "incoming/reel a+b.7z"
	s.Put(t, key, res.Path)
	ev, _ := s.ObjectCreatedEvent(t, key)
	// S3 URL-encodes the key: the space as "+", the plus as "%2B" (moto
	// encodes the slash too, AWS does not).
	if got := ev.Records[0].S3.Object.Key; !strings.HasSuffix(got, "reel+a%2Bb.7z") {
		t.Fatalf("event key %q is not URL-encoded as S3 does", got)
	}

	anchors, err := trust.FromPEM(res.PKI.PEM())
	if err != nil {
		t.Fatal(err)
	}
	var metrics stacktest.Metrics
	prov, err := provider.New(provider.Config{
		S3: s.S3, SQS: s.SQS, IoT: s.IoT.Via, QueueURL: s.ImportQueue, Target: target, Slot: "E0E0",
		DevicesPerMessage: 7, Trust: anchors, Results: s.Results(), Finish: s.Finisher(""),
		Metrics: emf.New(&metrics, stack.DefaultMetricsNamespace), Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := prov.Handle(ctx, ev); err != nil {
		t.Fatalf("provider: %v", err)
	}
	sum := s.Summary(t, key)
	wantMessages := (good + 6) / 7
	if sum.Valid != good || sum.Invalid != len(res.Bad) || sum.Total != good+len(res.Bad) || sum.Messages != wantMessages || sum.Error != "" || sum.Finished == "" {
		t.Fatalf("summary %+v, want %d valid, %d invalid, %d messages", sum, good, len(res.Bad), wantMessages)
	}
	if sum.Manifest != "s3://"+s.Bucket+"/"+key || len(sum.ReelIDs) != 1 || sum.ReelIDs[0] != res.ReelID {
		t.Errorf("summary names %q, reels %v", sum.Manifest, sum.ReelIDs)
	}
	for name, want := range map[string]float64{
		stack.MetricDevicesValid: good, stack.MetricDevicesInvalid: float64(len(res.Bad)),
		stack.MetricMessagesSent: float64(wantMessages), stack.MetricManifestsFailed: 0,
	} {
		if got := metrics.Sum(name, key); got != want {
			t.Errorf("metric %s = %v, want %v", name, got, want)
		}
	}

	const malformed = `{"manifest": "s3://x/y", "devices": [`
	if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.ImportQueue), MessageBody: aws.String(malformed)}); err != nil {
		t.Fatal(err)
	}

	// Two execution environments, as MaximumConcurrency 2 allows; fast
	// quotas so the test is quick, and few retries so that some devices
	// run out of them and go back to the queue.
	quotas := queueimport.ShareQuotas(200, 300, 2, ratelimit.PerDevice{Policies: 1, Groups: 1})
	var handlers []stacktest.ImportHandler
	for range 2 {
		h, err := queueimport.New(queueimport.Config{
			IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target, Quotas: quotas,
			MaxAttempts: 2, MaxThrottled: 2, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
			ResendDelay: time.Second, MaxResendDelay: 2 * time.Second, Reserve: 2 * time.Second,
			Results: s.Results(), Finish: s.Finisher(""),
			Metrics: emf.New(&metrics, stack.DefaultMetricsNamespace), Logger: logger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h.Handle)
	}
	stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: handlers, BatchSize: 3, Timeout: 20 * time.Second})
	t.Logf("delivery: %d invocations, %d messages, %d deleted; proxy %+v; requeued %v, throttled retries %v",
		stats.Invocations, stats.Messages, stats.Deleted, s.IoT.Proxy.Total(),
		metrics.Sum(stack.MetricDevicesRequeued, ""), metrics.Sum(stack.MetricThrottledRetries, ""))

	s.IoT.AssertComplete(t, devices)
	// The results table counts each device once through the faults,
	// drops and send-backs: done, every valid device imported or there.
	m, err := s.Results().Get(ctx, results.ID("s3://"+s.Bucket+"/"+key, sum.Version()))
	if err != nil || m.State != results.StateDone || m.Valid != good || m.Imported+m.Exists != good || m.Failed != 0 {
		t.Errorf("results table %+v %v, want done with %d imported or existing", m, err, good)
	}
	if m.Requeued == 0 {
		t.Error("the table counted no device sent back")
	}

	// No message lost: the malformed one was reported failed at each of
	// its deliveries and then moved to the dead-letter queue; nothing
	// else was reported failed or reached it.
	if got := stats.Failures[malformed]; got != 3 {
		t.Errorf("malformed message reported failed %d times, want 3 (maxReceiveCount)", got)
	}
	if len(stats.Failures) != 1 {
		t.Errorf("messages reported failed: %v", stats.Failures)
	}
	if dlq := s.Receive(t, s.ImportDLQ); len(dlq) != 1 || dlq[0] != malformed {
		t.Errorf("import dead-letter queue holds %q, want only the malformed message", dlq)
	}
	if got := metrics.Sum(stack.MetricDevicesImported, key) + metrics.Sum(stack.MetricDevicesExisting, key); got < good {
		t.Errorf("imported + existing = %v, want at least %d", got, good)
	}
	if got := metrics.Sum(stack.MetricDevicesFailed, key); got != 0 {
		t.Errorf("DevicesFailed = %v, want 0", got)
	}
	// The faults did happen, and some devices ran out of retries and
	// came back through the queue.
	total := s.IoT.Proxy.Total()
	if total.Throttled == 0 || total.Faults == 0 || total.Dropped == 0 {
		t.Errorf("proxy injected no fault of some kind: %+v", total)
	}
	if metrics.Sum(stack.MetricDevicesRequeued, key) == 0 {
		t.Error("no device was sent back to the queue: the resend path was not exercised")
	}
	if metrics.Sum(stack.MetricThrottledRetries, key) == 0 {
		t.Error("no throttled retry counted")
	}
}
