package stacktest_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

// notices subscribes a queue to a new topic and returns the topic's ARN
// and a function that takes the notifications that arrived.
func notices(t *testing.T, s *stacktest.Stack) (string, func() []string) {
	t.Helper()
	ctx := t.Context()
	c := s.Client()
	topic, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(s.Name + "-done")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.Name + "-notices")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(s.QueueARN(t, aws.ToString(q.QueueUrl))),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(topic.TopicArn), func() []string { return s.Receive(t, aws.ToString(q.QueueUrl)) }
}

// clash makes Things of the devices' names with other attributes, so
// that their import fails under StrictCreateThing.
func clash(t *testing.T, s *stacktest.Stack, devices []iottest.Device) {
	t.Helper()
	for _, d := range devices {
		if _, err := s.IoT.Via.CreateThing(t.Context(), &iot.CreateThingInput{
			ThingName: aws.String(d.ThingName), ThingTypeName: aws.String(iottest.ThingType),
			AttributePayload: &iottypes.AttributePayload{Attributes: map[string]string{"chip_id": "OTHER"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// unclash deletes the Things clash made.
func unclash(t *testing.T, s *stacktest.Stack, devices []iottest.Device) {
	t.Helper()
	for _, d := range devices {
		if _, err := s.IoT.Via.DeleteThing(t.Context(), &iot.DeleteThingInput{ThingName: aws.String(d.ThingName)}); err != nil {
			t.Fatal(err)
		}
	}
}

// finalSummary reads the final summary object of key.
func finalSummary(t *testing.T, s *stacktest.Stack, key string) results.Final {
	t.Helper()
	out, err := s.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(stack.ResultKey(stack.DefaultSummaryPrefix, key))})
	if err != nil {
		t.Fatalf("final summary of %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	var f results.Final
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("final summary %s: %v", b, err)
	}
	return f
}

// twice delivers each batch of the first invocations to h twice, as
// SQS does when a delete is lost, and counts the doubled messages.
type twice struct {
	h      stacktest.ImportHandler
	mu     sync.Mutex
	left   int
	double int
}

func (d *twice) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	d.mu.Lock()
	again := d.left > 0
	if again {
		d.left--
		d.double += len(ev.Records)
	}
	d.mu.Unlock()
	if again {
		if _, err := d.h(ctx, ev); err != nil {
			return events.SQSEventResponse{}, err
		}
	}
	return d.h(ctx, ev)
}

type counts struct{ valid, imported, exists, failed int }

func tableCounts(m results.Manifest) counts { return counts{m.Valid, m.Imported, m.Exists, m.Failed} }

// TestStackResultsEndToEnd: a manifest with devices whose Things clash
// (StrictCreateThing) reaches done once with exact counts, its failed
// devices listed with their reasons, while messages are delivered twice;
// the final summary and one notification say so; after the clashing
// Things are deleted, retry completes the failed devices and the
// manifest is done again with every device imported.
func TestStackResultsEndToEnd(t *testing.T) {
	const good, clashing = 14, 3
	res, devices := bundle(t, good)
	s := stacktest.New(t, "tp-results-e2e", stacktest.Options{
		Proxy: iotproxy.Config{StrictCreateThing: true, Latency: time.Millisecond}, VisibilityTimeout: 1,
	})
	ctx := t.Context()
	topic, notified := notices(t, s)

	// Things of three devices' names exist with other attributes.
	clash(t, s, devices[:clashing])

	const key = "reels/clash.7z"
	var metrics stacktest.Metrics
	fin := s.Finisher(topic)
	prov, ev, id := readWithResults(t, s, res, key, fin, &metrics)
	if m, err := s.Results().Get(ctx, id); err != nil || m.State != results.StateQueued || m.Valid != good {
		t.Fatalf("after the provider: %+v %v, want queued with %d valid", m, err, good)
	}
	// S3 delivers the event again: the manifest is not queued again.
	if err := prov.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if d := s.Depth(t, s.ImportQueue); d.Total() != (good+3)/4 {
		t.Fatalf("import queue holds %+v, want the %d messages of one reading", d, (good+3)/4)
	}

	importer := func() stacktest.ImportHandler { return importerWithResults(t, s, 2, fin, &metrics).Handle }
	// Each environment handles its first two batches twice.
	dup, dup2 := &twice{h: importer(), left: 2}, &twice{h: importer(), left: 2}
	s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{dup.Handle, dup2.Handle}, BatchSize: 2})
	if dup.double+dup2.double == 0 {
		t.Fatal("no message was delivered twice")
	}

	m, err := s.Results().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tableCounts(m), (counts{good, good - clashing, 0, clashing}); m.State != results.StateDone || got != want {
		t.Fatalf("manifest %s %+v, want done %+v", m.State, got, want)
	}
	failed, err := s.Results().FailedDevices(ctx, id)
	if err != nil || len(failed) != clashing {
		t.Fatalf("failed devices %+v, %v; want %d", failed, err, clashing)
	}
	clash := map[string]bool{}
	for _, d := range devices[:clashing] {
		clash[d.ThingName] = true
	}
	for _, d := range failed {
		if !clash[d.ThingName] || d.ChipID == "" || d.CertificateID == "" || d.Attempts != 1 ||
			!strings.Contains(d.Reason, "already exists") {
			t.Errorf("failed device %+v: want one of the clashing Things, with the reason", d)
		}
	}
	f := finalSummary(t, s, key)
	if tableCounts(f.Manifest) != tableCounts(m) || f.State != results.StateDone || f.Seconds < 0 {
		t.Errorf("final summary %+v, want the table's %+v", f, m)
	}
	if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"failed": 3`) {
		t.Fatalf("notifications %q, want one with the counts", got)
	}

	// thingpress status reads what the table says.
	st, err := s.Client().Status(ctx, stackclient.StatusInput{Stack: s.Name, Manifest: key})
	if err != nil || len(st.Summaries) != 1 || st.Summaries[0].Results == nil || st.Summaries[0].State() != "done" ||
		tableCounts(*st.Summaries[0].Results) != tableCounts(m) {
		t.Fatalf("status %+v, %v", st, err)
	}

	// The cause removed, retry completes them.
	unclash(t, s, devices[:clashing])
	rr, err := s.Client().Retry(ctx, stackclient.RetryInput{ManifestInput: stackclient.ManifestInput{Stack: s.Name, Manifest: key}})
	if err != nil || rr.Devices != clashing || rr.Round != 1 {
		t.Fatalf("retry %+v, %v", rr, err)
	}
	if m, _ := s.Results().Get(ctx, id); m.State != results.StateImporting {
		t.Fatalf("after retry: %s, want importing", m.State)
	}
	dup = &twice{h: importer(), left: 1}
	s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{dup.Handle}})
	if m, err = s.Results().Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, want := tableCounts(m), (counts{good, good, 0, 0}); m.State != results.StateDone || got != want || m.Round != 1 {
		t.Fatalf("after the retry: %s %+v round %d, want done %+v", m.State, got, m.Round, want)
	}
	if failed, err := s.Results().FailedDevices(ctx, id); err != nil || len(failed) != 0 {
		t.Errorf("failed devices after the retry: %+v %v", failed, err)
	}
	if f := finalSummary(t, s, key); f.Imported != good || f.Failed != 0 {
		t.Errorf("final summary after the retry %+v", f)
	}
	if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"failed": 0`) {
		t.Errorf("notifications after the retry %q, want one", got)
	}
	s.IoT.AssertComplete(t, devices)
}

// failUntil passes batches to h and, after the first that reports a
// failed message, runs fix once.
type failUntil struct {
	h      stacktest.ImportHandler
	mu     sync.Mutex
	fix    func()
	failed int // messages reported failed
}

func (f *failUntil) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp, err := f.h(ctx, ev)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed += len(resp.BatchItemFailures)
	if len(resp.BatchItemFailures) > 0 && f.fix != nil {
		f.fix()
		f.fix = nil
	}
	return resp, err
}

// TestStackResultsTellRedelivered: the notification of a done manifest
// fails (its topic is missing); the message that completed the manifest
// is reported failed, SQS delivers it again after its visibility timeout,
// and that delivery, which imports nothing and changes no count, writes
// the final summary and the one notification.
func TestStackResultsTellRedelivered(t *testing.T) {
	const good = 6
	res, devices := bundle(t, good)
	s := stacktest.New(t, "tp-results-tell", stacktest.Options{VisibilityTimeout: 1})
	ctx := t.Context()
	topic, notified := notices(t, s)
	c := s.Client()
	if _, err := c.SNS.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(topic)}); err != nil {
		t.Fatal(err)
	}

	const key = "reels/tell.7z"
	var metrics stacktest.Metrics
	fin := s.Finisher(topic)
	_, _, id := readWithResults(t, s, res, key, fin, &metrics)
	h := importerWithResults(t, s, 1, fin, &metrics)
	var untold results.Manifest
	f := &failUntil{h: h.Handle, fix: func() {
		m, err := s.Results().Get(ctx, id)
		if err != nil {
			t.Error(err)
			return
		}
		untold = m
		recreated, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(s.Name + "-done")})
		if err != nil || aws.ToString(recreated.TopicArn) != topic {
			t.Errorf("topic made again: %v %v, want %s", recreated, err, topic)
			return
		}
		q, err := s.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(s.Name + "-notices")})
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := c.SNS.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn: aws.String(topic), Protocol: aws.String("sqs"), Endpoint: aws.String(s.QueueARN(t, aws.ToString(q.QueueUrl))),
			Attributes: map[string]string{"RawMessageDelivery": "true"},
		}); err != nil {
			t.Error(err)
		}
	}}
	stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{f.Handle}, BatchSize: 1})
	if f.failed != 1 || len(stats.Failures) != 1 {
		t.Fatalf("%d messages reported failed (%v), want the one that completed the manifest", f.failed, stats.Failures)
	}
	if got, want := tableCounts(untold), (counts{good, good, 0, 0}); untold.State != results.StateDone || untold.Notified != "" || got != want {
		t.Fatalf("after the failed notice: %s %+v notified %q, want done %+v, not told", untold.State, got, untold.Notified, want)
	}
	m, err := s.Results().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if tableCounts(m) != tableCounts(untold) || m.Requeued != untold.Requeued || m.State != results.StateDone || m.Notified == "" || m.Finished != untold.Finished {
		t.Fatalf("after the redelivery %+v, want %+v and told", m, untold)
	}
	if fs := finalSummary(t, s, key); tableCounts(fs.Manifest) != tableCounts(m) || fs.Finished != m.Finished {
		t.Errorf("final summary %+v, want the table's %+v", fs, m)
	}
	if got := notified(); len(got) != 1 {
		t.Fatalf("notifications %q, want one", got)
	}
	// Each certificate registered once: the redelivery imported nothing.
	if n := s.IoT.Proxy.Stats()[ratelimit.OpRegisterCertificateWithoutCA].Calls; n != good {
		t.Errorf("%d RegisterCertificateWithoutCA calls, want %d", n, good)
	}
	s.IoT.AssertComplete(t, devices)
}

// readWithResults puts the bundle of res at key and runs the provider on
// its ObjectCreated event, with the results table and fin; it returns the
// provider, the event and the manifest's ID in the table.
func readWithResults(t *testing.T, s *stacktest.Stack, res *generate.Result, key string, fin *results.Finisher, metrics *stacktest.Metrics) (*provider.Handler, events.S3Event, string) {
	t.Helper()
	s.Put(t, key, res.Path)
	ev, _ := s.ObjectCreatedEvent(t, key)
	anchors, err := trust.FromPEM(res.PKI.PEM())
	if err != nil {
		t.Fatal(err)
	}
	prov, err := provider.New(provider.Config{
		S3: s.S3, SQS: s.SQS, IoT: s.IoT.Via, QueueURL: s.ImportQueue, Target: target, Slot: "E0E0",
		DevicesPerMessage: 4, Trust: anchors, Results: s.Results(), Finish: fin,
		Metrics: emf.New(metrics, stack.DefaultMetricsNamespace), Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := prov.Handle(t.Context(), ev); err != nil {
		t.Fatalf("provider: %v", err)
	}
	return prov, ev, results.ID("s3://"+s.Bucket+"/"+key, s.Summary(t, key).Version())
}

// importerWithResults is an importer function, one of importers sharing
// the quotas, with the results table and fin.
func importerWithResults(t *testing.T, s *stacktest.Stack, importers int, fin *results.Finisher, metrics *stacktest.Metrics) *queueimport.Handler {
	t.Helper()
	h, err := queueimport.New(queueimport.Config{
		IoT: s.IoT.Via, SQS: s.SQS, QueueURL: s.ImportQueue, Target: target,
		Quotas:  queueimport.ShareQuotas(200, 300, importers, ratelimit.PerDevice{Policies: 1, Groups: 1}),
		Results: s.Results(), Finish: fin,
		Metrics: emf.New(metrics, stack.DefaultMetricsNamespace), Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
