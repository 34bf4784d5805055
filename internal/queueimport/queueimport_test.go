package queueimport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

var target = awsiot.Target{Policies: []string{iottest.Policy}, ThingType: iottest.ThingType, ThingGroups: []string{iottest.Group}}

func TestShareQuotas(t *testing.T) {
	tests := []struct {
		name             string
		register, policy float64
		concurrency      int
		per              ratelimit.PerDevice
		want             map[string]float64
	}{
		{
			name: "default quotas, two invocations", register: 10, policy: 15, concurrency: 2, per: ratelimit.PerDevice{Policies: 1, Groups: 1},
			want: map[string]float64{
				ratelimit.OpRegisterCertificateWithoutCA: 5, ratelimit.OpAttachPolicy: 7.5, ratelimit.OpCreateThing: 50,
				ratelimit.OpAttachThingPrincipal: 50, ratelimit.OpAddThingToThingGroup: 50, ratelimit.OpDescribeThing: 175,
			},
		},
		{
			name: "raised quotas, ten invocations", register: 100, policy: 100, concurrency: 10, per: ratelimit.PerDevice{Policies: 1},
			want: map[string]float64{
				ratelimit.OpRegisterCertificateWithoutCA: 10, ratelimit.OpAttachPolicy: 10, ratelimit.OpCreateThing: 10,
				ratelimit.OpAttachThingPrincipal: 10, ratelimit.OpAddThingToThingGroup: 10,
			},
		},
		{
			name: "four invocations at the default", register: 10, policy: 15, concurrency: 4, per: ratelimit.PerDevice{Policies: 1, Groups: 1},
			want: map[string]float64{ratelimit.OpRegisterCertificateWithoutCA: 2.5, ratelimit.OpAttachPolicy: 3.75, ratelimit.OpCreateThing: 25},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := queueimport.ShareQuotas(tc.register, tc.policy, tc.concurrency, tc.per)
			for op, want := range tc.want {
				if math.Abs(got[op]-want) > 1e-9 {
					t.Errorf("%s: %v, want %v", op, got[op], want)
				}
			}
			// Whatever the table, N shares never add up to more than the
			// account's quota of any operation.
			account := ratelimit.ForRegistrationRate(tc.register, tc.per)
			account[ratelimit.OpAttachPolicy] = tc.policy
			for op, q := range account {
				if sum := got[op] * float64(tc.concurrency); sum > q+1e-9 {
					t.Errorf("%s: %d invocations x %v = %v, over the quota %v", op, tc.concurrency, got[op], sum, q)
				}
			}
		})
	}
}

// devices issues n device certificates as the provider queues them.
func devices(t *testing.T, n int) []stack.QueuedDevice {
	t.Helper()
	ca, err := generate.NewRoot("queueimport test CA")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]stack.QueuedDevice, n)
	for i := range out {
		leaf, err := ca.Issue(generate.LeafOptions{Seed: fmt.Sprintf("%s-%d", t.Name(), i)})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(leaf.Cert.Raw)
		out[i] = stack.QueuedDevice{Device: importer.Device{
			ChipID: fmt.Sprintf("CHIP%04d", i), ReelID: "REEL", ThingName: leaf.Cert.Subject.CommonName,
			CertificateID: hex.EncodeToString(sum[:]), CertificatePEM: string(generate.PEM(leaf.Cert)),
		}}
	}
	return out
}

func expected(devs []stack.QueuedDevice) []iottest.Device {
	out := make([]iottest.Device, len(devs))
	for i, d := range devs {
		out[i] = iottest.Device{ThingName: d.ThingName, ChipID: d.ChipID, ReelID: d.ReelID}
	}
	return out
}

const manifest = "s3://tp-infineon/reels/reel a+b.7z"

func body(t *testing.T, attempt int, devs []stack.QueuedDevice) string {
	t.Helper()
	b, err := json.Marshal(stack.Message{Manifest: manifest, ManifestETag: "e1", Attempt: attempt, Devices: devs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func event(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b, EventSource: "aws:sqs"})
	}
	return ev
}

// calledOnce checks that each IoT call the recorder saw (operation and
// resource) was made once: nothing done twice across invocations.
func calledOnce(t *testing.T, s *stacktest.Stack) {
	t.Helper()
	for key, n := range s.IoT.Calls.Counts() {
		if n != 1 {
			t.Errorf("%s called %d times, want once", key, n)
		}
	}
}

func newHandler(t *testing.T, s *stacktest.Stack, metrics *stacktest.Metrics, edit func(*queueimport.Config)) *queueimport.Handler {
	t.Helper()
	cfg := queueimport.Config{
		IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target,
		Quotas:      queueimport.ShareQuotas(200, 300, 1, ratelimit.PerDevice{Policies: 1, Groups: 1}),
		MaxAttempts: 3, MaxThrottled: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		Metrics: emf.New(metrics, "Thingpress"),
		Logger:  slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := queueimport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// requeued takes the messages off the import queue.
func requeued(t *testing.T, s *stacktest.Stack, atLeast int) []stack.Message {
	t.Helper()
	var out []stack.Message
	deadline := time.Now().Add(30 * time.Second) // a loaded machine: moto slows down
	// Until the queue is empty and atLeast messages came: SQS's counts
	// are approximate.
	for (s.Depth(t, s.ImportQueue).Total() > 0 || len(out) < atLeast) && time.Now().Before(deadline) {
		for _, b := range s.Receive(t, s.ImportQueue) {
			var m stack.Message
			if err := json.Unmarshal([]byte(b), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestHandleImportsAndReportsMalformed(t *testing.T) {
	s := stacktest.New(t, "tp-qi", stacktest.Options{})
	devs := devices(t, 5)
	badName := devs[4]
	badName.ThingName = "has space"
	var metrics stacktest.Metrics
	h := newHandler(t, s, &metrics, nil)
	resp, err := h.Handle(t.Context(), event(
		body(t, 0, devs[:2]),
		"not json",
		`{"manifest":"`+manifest+`","devices":[]}`,
		body(t, 0, []stack.QueuedDevice{devs[2], devs[3], badName}),
		`{"devices":[{"thing_name":"x"}]}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(failures(resp), ","); got != "m1,m2,m4" {
		t.Errorf("batchItemFailures %q, want the malformed m1,m2,m4", got)
	}
	s.IoT.AssertComplete(t, expected(devs[:4]))
	for name, want := range map[string]float64{stack.MetricDevicesImported: 4, stack.MetricDevicesFailed: 1, stack.MetricDevicesRequeued: 0} {
		if got := metrics.Sum(name, "reels/reel a+b.7z"); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if msgs := requeued(t, s, 0); len(msgs) != 0 {
		t.Errorf("%d messages sent back", len(msgs))
	}

	t.Run("again: everything already there", func(t *testing.T) {
		var again stacktest.Metrics
		h := newHandler(t, s, &again, nil)
		resp, err := h.Handle(t.Context(), event(body(t, 0, devs[:4])))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle: %v %v", resp, err)
		}
		if got := again.Sum(stack.MetricDevicesExisting, ""); got != 4 {
			t.Errorf("DevicesExisting = %v, want 4", got)
		}
		s.IoT.AssertComplete(t, expected(devs[:4]))
	})
}

// TestPermanentFailure: a device AWS refuses for good is counted and
// logged, neither sent back nor failing its message.
func TestPermanentFailure(t *testing.T) {
	s := stacktest.New(t, "tp-qi-clash", stacktest.Options{Proxy: iotproxy.Config{StrictCreateThing: true}})
	devs := devices(t, 2)
	// A thing of the second device's name exists with other attributes.
	if _, err := s.IoT.Via.CreateThing(t.Context(), &iot.CreateThingInput{
		ThingName: aws.String(devs[1].ThingName), ThingTypeName: aws.String(iottest.ThingType),
		AttributePayload: &iottypes.AttributePayload{Attributes: map[string]string{"chip_id": "OTHER"}},
	}); err != nil {
		t.Fatal(err)
	}
	var metrics stacktest.Metrics
	resp, err := newHandler(t, s, &metrics, nil).Handle(t.Context(), event(body(t, 0, devs)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %v", resp, err)
	}
	for name, want := range map[string]float64{stack.MetricDevicesImported: 1, stack.MetricDevicesFailed: 1, stack.MetricDevicesRequeued: 0} {
		if got := metrics.Sum(name, ""); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if msgs := requeued(t, s, 0); len(msgs) != 0 {
		t.Errorf("%d messages sent back", len(msgs))
	}
	th, err := s.IoT.Direct.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String(devs[1].ThingName)})
	if err != nil || th.Attributes["chip_id"] != "OTHER" {
		t.Errorf("the existing thing was changed: %v %v", th, err)
	}
	// The clash is met before the certificate is registered.
	certs, err := s.IoT.Direct.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
	if err != nil || len(certs.Certificates) != 1 {
		t.Errorf("moto holds %v certificates (%v), want only the imported device's", certs, err)
	}
}

// TestHalfMadeLogged: a device that fails for good after its certificate
// is registered is logged with what it left in AWS and counted in the
// batch's log line.
func TestHalfMadeLogged(t *testing.T) {
	s := stacktest.New(t, "tp-qi-halfmade", stacktest.Options{})
	devs := devices(t, 2)
	var logs syncBuffer
	var metrics stacktest.Metrics
	h := newHandler(t, s, &metrics, func(c *queueimport.Config) {
		c.Target.ThingGroups = []string{"tp-gone"}
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	resp, err := h.Handle(t.Context(), event(body(t, 0, devs)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %v", resp, err)
	}
	if got := metrics.Sum(stack.MetricDevicesFailed, ""); got != 2 {
		t.Errorf("DevicesFailed = %v, want 2", got)
	}
	type leftInAWS struct {
		CertificateARN    string `json:"certificate_arn"`
		CertificateStatus string `json:"certificate_status"`
		Thing             string
		ThingCreated      string `json:"thing_created"`
		Done, Missing     []string
	}
	var halfMade []leftInAWS
	batch := -1
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg          string
			Thing        string
			Left         leftInAWS `json:"left_in_aws"`
			LeftHalfMade int       `json:"left_half_made"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec.Msg {
		case "device failed half-made":
			if rec.Left.Thing != rec.Thing {
				t.Errorf("left_in_aws names thing %q, the line %q", rec.Left.Thing, rec.Thing)
			}
			halfMade = append(halfMade, rec.Left)
		case "batch done":
			batch = rec.LeftHalfMade
		}
	}
	if len(halfMade) != 2 || batch != 2 {
		t.Fatalf("%d half-made lines, batch left_half_made %d, want 2 and 2:\n%s", len(halfMade), batch, logs.String())
	}
	for _, l := range halfMade {
		if !strings.Contains(l.CertificateARN, ":cert/") || l.CertificateStatus != "ACTIVE" || l.ThingCreated != "this run" ||
			!slices.Equal(l.Done, []string{state.StepThing, state.StepRegister, state.StepPrincipal, state.PolicyStep(iottest.Policy)}) ||
			!slices.Equal(l.Missing, []string{state.GroupStep("tp-gone")}) {
			t.Errorf("left_in_aws %+v", l)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRetriesRunOut: when AWS keeps throttling, devices go back to the
// queue with a delay, and only the message that went back too often, or
// could not be sent back, is reported failed.
func TestRetriesRunOut(t *testing.T) {
	s := stacktest.New(t, "tp-qi-throttle", stacktest.Options{
		Proxy: iotproxy.Config{Quotas: map[string]float64{ratelimit.OpRegisterCertificateWithoutCA: 0}},
	})
	devs := devices(t, 3)
	tests := []struct {
		name         string
		attempt      int
		otherQueue   bool // send back to a queue that does not exist
		wantFailed   bool
		wantRequeued int
	}{
		{name: "first time: sent back with a delay", wantRequeued: 3},
		{name: "sent back too often", attempt: queueimport.DefaultMaxResends, wantFailed: true},
		{name: "cannot send back", otherQueue: true, wantFailed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var metrics stacktest.Metrics
			h := newHandler(t, s, &metrics, func(c *queueimport.Config) {
				c.ResendDelay, c.MaxResendDelay = time.Second, 2*time.Second
				if tc.otherQueue {
					c.QueueURL = s.ImportQueue + "-gone"
				}
			})
			resp, err := h.Handle(t.Context(), event(body(t, tc.attempt, devs)))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.BatchItemFailures) == 1; got != tc.wantFailed {
				t.Fatalf("failures %v, want failed %v", resp.BatchItemFailures, tc.wantFailed)
			}
			if got := metrics.Sum(stack.MetricDevicesRequeued, ""); got != float64(tc.wantRequeued) {
				t.Errorf("DevicesRequeued = %v, want %d", got, tc.wantRequeued)
			}
			if got := metrics.Sum(stack.MetricThrottledRetries, ""); got < 3 {
				t.Errorf("ThrottledRetries = %v, want at least 3", got)
			}
			if tc.wantRequeued == 0 {
				return
			}
			if d := s.Depth(t, s.ImportQueue); d.Delayed != 1 {
				t.Errorf("queue %+v: want the message sent back with a delay", d)
			}
			msgs := requeued(t, s, 1)
			if len(msgs) != 1 || msgs[0].Attempt != tc.attempt+1 || len(msgs[0].Devices) != 3 || msgs[0].Manifest != manifest {
				t.Fatalf("sent back %+v", msgs)
			}
		})
	}
}

// TestDeadline: devices not finished when the invocation's time runs out
// go back to the queue at once, with the steps already done, and the
// next invocation finishes them without repeating a step.
func TestDeadline(t *testing.T) {
	s := stacktest.New(t, "tp-qi-deadline", stacktest.Options{Proxy: iotproxy.Config{Latency: 20 * time.Millisecond}})
	devs := devices(t, 24)
	var metrics stacktest.Metrics
	h := newHandler(t, s, &metrics, func(c *queueimport.Config) {
		// AttachPolicy at 4 a second: 24 devices need 6 s, the
		// invocation has 3, and the devices cut short have their first
		// steps done.
		c.Quotas = queueimport.ShareQuotas(100, 4, 1, ratelimit.PerDevice{Policies: 1, Groups: 1})
		c.Reserve = 1500 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	started := time.Now()
	resp, err := h.Handle(ctx, event(body(t, 0, devs[:12]), body(t, 0, devs[12:])))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %v", resp, err)
	}
	if took := time.Since(started); took > 3*time.Second {
		t.Errorf("the invocation took %s, past its deadline", took)
	}
	done := metrics.Sum(stack.MetricDevicesImported, "")
	back := metrics.Sum(stack.MetricDevicesRequeued, "")
	if done == 0 || back == 0 || done+back != 24 {
		t.Fatalf("imported %v, sent back %v: want both, 24 in all", done, back)
	}
	msgs := requeued(t, s, 1)
	var rest []string
	withSteps := 0
	for _, m := range msgs {
		if m.Attempt != 0 {
			t.Errorf("a message cut short by time counts as attempt %d", m.Attempt)
		}
		for _, d := range m.Devices {
			if len(d.Done) > 0 {
				withSteps++
				registered := slices.Contains(d.Done, state.StepRegister)
				if d.Done[0] != state.StepThing || registered != (d.CertificateARN != "") {
					t.Errorf("device came back with steps %v and ARN %q", d.Done, d.CertificateARN)
				}
			}
		}
		rest = append(rest, body(t, m.Attempt, m.Devices))
	}
	t.Logf("%v imported, %v sent back in %d messages (%d with steps done)", done, back, len(msgs), withSteps)
	if withSteps == 0 {
		t.Error("no device came back with steps done")
	}

	// The next invocation, in another execution environment at the
	// usual test quotas: it need not wait on 4 AttachPolicy a second.
	resp, err = newHandler(t, s, &metrics, nil).Handle(t.Context(), event(rest...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second Handle: %v %v", resp, err)
	}
	s.IoT.AssertComplete(t, expected(devs))
	calledOnce(t, s)
}

// TestStackResultsWhenRetriesRunOut: with a results table, devices sent back
// are counted once per delivery however often it comes, and devices
// whose send-backs ran out are recorded failed, with the reason, instead
// of failing their message.
func TestStackResultsWhenRetriesRunOut(t *testing.T) {
	s := stacktest.New(t, "tp-qi-results", stacktest.Options{
		Proxy: iotproxy.Config{Quotas: map[string]float64{ratelimit.OpRegisterCertificateWithoutCA: 0}},
	})
	devs := devices(t, 3)
	tb := s.Results()
	id := results.ID(manifest, "e1")
	h := newHandler(t, s, &stacktest.Metrics{}, func(c *queueimport.Config) {
		c.ResendDelay, c.MaxResendDelay = time.Second, 2*time.Second
		c.Results, c.Finish = tb, s.Finisher("")
	})
	ev := event(body(t, 0, devs))
	for range 2 {
		if resp, err := h.Handle(t.Context(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle: %v %v", resp, err)
		}
	}
	m, err := tb.Get(t.Context(), id)
	if err != nil || m.Requeued != 3 || m.Ended() != 0 {
		t.Fatalf("after two deliveries that sent devices back: %+v %v, want 3 requeued", m, err)
	}
	requeued(t, s, 1)

	resp, err := h.Handle(t.Context(), event(body(t, queueimport.DefaultMaxResends, devs)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %v, want no failed message", resp, err)
	}
	if m, err = tb.Get(t.Context(), id); err != nil || m.Failed != 3 {
		t.Fatalf("manifest %+v %v, want 3 failed", m, err)
	}
	failed, err := tb.FailedDevices(t.Context(), id)
	if err != nil || len(failed) != 3 || !strings.Contains(failed[0].Reason, "sent back too often") || failed[0].CertificatePEM == "" {
		t.Fatalf("failed devices %+v %v", failed, err)
	}
	if msgs := requeued(t, s, 0); len(msgs) != 0 {
		t.Errorf("%d messages sent back", len(msgs))
	}
}

// TestEndpointUnreachable: the IoT endpoint stops taking connections part
// way through a batch. The invocation stops within seconds, not after
// every device's retries, records no device failed, and sends the devices
// not done back with their steps and a delay, as when retries run out; a
// later delivery, the endpoint back, finishes them without a call made
// twice.
func TestEndpointUnreachable(t *testing.T) {
	s := stacktest.New(t, "tp-qi-unreach", stacktest.Options{Proxy: iotproxy.Config{RefuseAfter: 12}})
	devs := devices(t, 12)
	tb := s.Results()
	id := results.ID(manifest, "e1")
	var metrics stacktest.Metrics
	h := newHandler(t, s, &metrics, func(c *queueimport.Config) {
		// The defaults: 10 attempts a call, 100 ms to 10 s apart.
		c.MaxAttempts, c.BackoffBase, c.BackoffMax = 0, 0, 0
		c.Workers = 2
		c.ResendDelay, c.MaxResendDelay = time.Second, 2*time.Second
		c.Results, c.Finish = tb, s.Finisher("")
	})
	started := time.Now()
	resp, err := h.Handle(t.Context(), event(body(t, 0, devs[:6]), body(t, 0, devs[6:])))
	took := time.Since(started)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %v, want no failed message", resp, err)
	}
	if took > 15*time.Second {
		t.Errorf("the invocation took %v with the endpoint gone, want a few seconds", took)
	}
	done, back := metrics.Sum(stack.MetricDevicesImported, ""), metrics.Sum(stack.MetricDevicesRequeued, "")
	if failed := metrics.Sum(stack.MetricDevicesFailed, ""); failed != 0 || back == 0 || done+back != 12 {
		t.Fatalf("imported %v, failed %v, sent back %v: want none failed, some sent back, 12 in all", done, failed, back)
	}
	if m, err := tb.Get(t.Context(), id); err != nil || m.Failed != 0 || m.Requeued != int(back) {
		t.Errorf("results %+v %v, want none failed, %v requeued", m, err, back)
	}
	msgs := requeued(t, s, 1)
	var rest []string
	n := 0
	for _, m := range msgs {
		if m.Attempt != 1 {
			t.Errorf("sent back as attempt %d, want 1 (with a delay)", m.Attempt)
		}
		n += len(m.Devices)
		rest = append(rest, body(t, m.Attempt, m.Devices))
	}
	if n != int(back) {
		t.Fatalf("%d devices on the queue, %v sent back", n, back)
	}
	t.Logf("stopped after %v: %v imported, %v sent back", took, done, back)

	// The endpoint back, at the same address.
	moto, err := url.Parse(s.IoT.Moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	up := iotproxy.New(moto, iotproxy.Config{Observe: s.IoT.Calls.Observe})
	if _, err := up.StartAt(strings.TrimPrefix(s.IoT.Proxy.URL(), "http://")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	resp, err = newHandler(t, s, &metrics, func(c *queueimport.Config) { c.Results, c.Finish = tb, s.Finisher("") }).Handle(t.Context(), event(rest...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second Handle: %v %v", resp, err)
	}
	s.IoT.AssertComplete(t, expected(devs))
	calledOnce(t, s)
	if m, err := tb.Get(t.Context(), id); err != nil || m.Failed != 0 || m.Imported != 12 {
		t.Errorf("results %+v %v, want 12 imported", m, err)
	}
}
