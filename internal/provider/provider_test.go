package provider_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
	"github.com/thingpress/thingpress/internal/trust"
)

var target = awsiot.Target{Policies: []string{iottest.Policy}, ThingType: iottest.ThingType, ThingGroups: []string{iottest.Group}}

// fixture is a stack in moto with an XML manifest of good and bad
// devices uploaded as "reels/reel a+b.xml".
type fixture struct {
	s       *stacktest.Stack
	res     *testbundle.Result
	anchors *trust.Store
}

const xmlKey = "reels/reel a+b.xml"

func newFixture(t *testing.T, good int) *fixture {
	t.Helper()
	s := stacktest.New(t, "tp-provider", stacktest.Options{})
	dir := t.TempDir()
	res, err := testbundle.Generate(filepath.Join(dir, "reel.xml"), testbundle.Options{N: good, Format: testbundle.FormatXML, Bad: true})
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := trust.FromPEM(res.PKI.PEM())
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, xmlKey, res.Path)
	return &fixture{s: s, res: res, anchors: anchors}
}

func (f *fixture) handler(t *testing.T, metrics *stacktest.Metrics, edit func(*provider.Config)) *provider.Handler {
	t.Helper()
	cfg := provider.Config{
		S3: f.s.S3, SQS: f.s.SQS, IoT: f.s.IoT.Direct, QueueURL: f.s.ImportQueue, Target: target,
		DevicesPerMessage: 4, Trust: f.anchors, Metrics: emf.New(metrics, "Thingpress"),
		Logger: slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := provider.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// messages takes every message off the import queue.
func (f *fixture) messages(t *testing.T) []stack.Message {
	t.Helper()
	var out []stack.Message
	for _, body := range f.s.Receive(t, f.s.ImportQueue) {
		var m stack.Message
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("queue message is not a stack.Message: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandleQueuesValidDevices(t *testing.T) {
	const good = 9
	f := newFixture(t, good)
	var metrics stacktest.Metrics
	h := f.handler(t, &metrics, nil)
	ev, _ := f.s.ObjectCreatedEvent(t, xmlKey)
	if err := h.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	sum := f.s.Summary(t, xmlKey)
	bad := len(testbundle.BadCases)
	if sum.Devices != good+bad || sum.Valid != good || sum.Invalid != bad || sum.Messages != 3 || sum.Error != "" ||
		sum.Finished == "" || sum.ETag == "" || sum.Slot != "E0E0" || sum.Manifest != "s3://"+f.s.Bucket+"/"+xmlKey {
		t.Errorf("summary %+v", sum)
	}
	n := 0
	for _, c := range sum.Reasons {
		n += c
	}
	if n != bad || sum.Reasons["untrusted chain"] != 1 || sum.Reasons["expired"] != 1 {
		t.Errorf("reasons %v", sum.Reasons)
	}
	seen := map[string]bool{}
	for _, m := range f.messages(t) {
		if m.Manifest != sum.Manifest || m.ManifestETag != sum.ETag || len(m.Devices) > 4 || m.Attempt != 0 {
			t.Errorf("message %s etag %s with %d devices", m.Manifest, m.ManifestETag, len(m.Devices))
		}
		for _, d := range m.Devices {
			if seen[d.ThingName] || d.ChipID == "" || d.ReelID != f.res.ReelID || len(d.CertificateID) != 64 ||
				!strings.HasPrefix(d.CertificatePEM, "-----BEGIN CERTIFICATE-----") || len(d.Done) != 0 {
				t.Errorf("device %+v", d)
			}
			seen[d.ThingName] = true
		}
	}
	if len(seen) != good {
		t.Errorf("%d devices queued, want %d", len(seen), good)
	}
	for name, want := range map[string]float64{stack.MetricDevicesValid: good, stack.MetricDevicesInvalid: float64(bad), stack.MetricMessagesSent: 3, stack.MetricManifestsFailed: 0} {
		if got := metrics.Sum(name, xmlKey); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestHandleIgnores(t *testing.T) {
	f := newFixture(t, 1)
	h := f.handler(t, &stacktest.Metrics{}, nil)
	rec := func(event, key string) events.S3EventRecord {
		var r events.S3EventRecord
		r.EventName, r.S3.Bucket.Name, r.S3.Object.Key = event, f.s.Bucket, key
		return r
	}
	tests := []struct {
		name string
		ev   events.S3Event
	}{
		{name: "test event without records"},
		{name: "record without S3 data", ev: events.S3Event{Records: []events.S3EventRecord{{EventName: "ObjectCreated:Put"}}}},
		{name: "object removed", ev: events.S3Event{Records: []events.S3EventRecord{rec("ObjectRemoved:Delete", "reels/reel+a%2Bb.xml")}}},
		{name: "summary", ev: events.S3Event{Records: []events.S3EventRecord{rec("ObjectCreated:Put", "thingpress/summaries/reels/x.xml")}}},
		{name: "other suffix", ev: events.S3Event{Records: []events.S3EventRecord{rec("ObjectCreated:Put", "notes.txt")}}},
		{name: "undecodable key", ev: events.S3Event{Records: []events.S3EventRecord{rec("ObjectCreated:Put", "bad%zz.7z")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.Handle(t.Context(), tc.ev); err != nil {
				t.Fatalf("Handle: %v", err)
			}
		})
	}
	if msgs := f.messages(t); len(msgs) != 0 {
		t.Errorf("%d messages queued for ignored records", len(msgs))
	}
}

func TestProcessFailures(t *testing.T) {
	f := newFixture(t, 2)
	ctx := t.Context()
	notManifest := filepath.Join(t.TempDir(), "x.7z")
	if err := os.WriteFile(notManifest, []byte("hello, not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.Put(t, "junk.7z", notManifest)
	csv := filepath.Join(t.TempDir(), "esp.csv")
	if err := os.WriteFile(csv, []byte("MAC,cn,cert\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.Put(t, "esp.csv", csv)
	f.s.Put(t, "deflate64.7z", filepath.Join("..", "manifest", "infineon", "testdata", "reasons", "inner-deflate64.7z"))
	tests := []struct {
		name      string
		key       string
		edit      func(*provider.Config)
		wantRetry bool   // Process returns an error, so Lambda retries
		wantErr   string // in the summary
	}{
		{name: "not a manifest", key: "junk.7z", wantErr: "junk.7z: unknown manifest format"},
		{name: "another vendor's manifest", key: "esp.csv", wantErr: "esp.csv: not supported: vendor espressif: this stack reads Infineon"},
		{name: "unsupported 7z method", key: "deflate64.7z", wantErr: "not supported"},
		{name: "over the size limit", key: xmlKey, edit: func(c *provider.Config) { c.MaxManifestBytes = 100 }, wantErr: "MAX_MANIFEST_BYTES=100"},
		{name: "object gone", key: "gone.xml", wantErr: "no longer exists"},
		{name: "preflight: missing policy", key: xmlKey, wantRetry: true, wantErr: `missing in AWS IoT: policy "no-such-policy"`,
			edit: func(c *provider.Config) { c.Target.Policies = []string{"no-such-policy"} }},
		{name: "queue missing", key: xmlKey, wantRetry: true, wantErr: "send to the import queue",
			edit: func(c *provider.Config) { c.QueueURL = f.s.ImportQueue + "-gone"; c.SendAttempts = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var metrics stacktest.Metrics
			h := f.handler(t, &metrics, tc.edit)
			sum, err := h.Process(ctx, provider.Object{Bucket: f.s.Bucket, Key: tc.key})
			if (err != nil) != tc.wantRetry {
				t.Fatalf("Process: %v, want an error (retry) %v", err, tc.wantRetry)
			}
			if !strings.Contains(sum.Error, tc.wantErr) || (tc.wantErr == "") != (sum.Error == "") {
				t.Fatalf("summary error %q, want %q", sum.Error, tc.wantErr)
			}
			if stored := f.s.Summary(t, tc.key); stored.Error != sum.Error || stored.Finished == "" {
				t.Errorf("stored summary %+v", stored)
			}
			failed := 0.0
			if tc.wantErr != "" {
				failed = 1
			}
			if got := metrics.Sum(stack.MetricManifestsFailed, tc.key); got != failed {
				t.Errorf("ManifestsFailed = %v, want %v", got, failed)
			}
			f.messages(t) // empty the queue for the next case
		})
	}
}

// TestStackResultsTable: with a results table the provider marks a manifest
// queued with its valid devices, does not queue a version again that it
// queued already, and marks a manifest it cannot read failed.
func TestStackResultsTable(t *testing.T) {
	f := newFixture(t, 3)
	ctx := t.Context()
	junk := filepath.Join(t.TempDir(), "x.7z")
	if err := os.WriteFile(junk, []byte("hello, not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.Put(t, "junk.7z", junk)
	tb := f.s.Results()
	h := f.handler(t, &stacktest.Metrics{}, func(c *provider.Config) { c.Results, c.Finish = tb, f.s.Finisher("") })

	sum, err := h.Process(ctx, provider.Object{Bucket: f.s.Bucket, Key: xmlKey})
	if err != nil || sum.Valid != 3 {
		t.Fatalf("Process: %+v %v", sum, err)
	}
	m, err := tb.Get(ctx, results.ID("s3://"+f.s.Bucket+"/"+xmlKey, sum.Version()))
	if err != nil || m.State != results.StateQueued || m.Valid != 3 || m.QueuedAt == "" || m.Started == "" {
		t.Fatalf("manifest item %+v %v, want queued with 3 valid", m, err)
	}
	if msgs := f.messages(t); len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	again, err := h.Process(ctx, provider.Object{Bucket: f.s.Bucket, Key: xmlKey})
	if err != nil || again.Valid != 0 {
		t.Fatalf("Process again: %+v %v", again, err)
	}
	if msgs := f.messages(t); len(msgs) != 0 {
		t.Errorf("the same version queued again: %d messages", len(msgs))
	}
	if stored := f.s.Summary(t, xmlKey); stored.Valid != 3 {
		t.Errorf("the summary was overwritten: %+v", stored)
	}
	// The same bytes uploaded again are a new version, read again.
	f.s.Put(t, xmlKey, f.res.Path)
	third, err := h.Process(ctx, provider.Object{Bucket: f.s.Bucket, Key: xmlKey})
	if err != nil || third.Valid != 3 || third.VersionID == "" || third.VersionID == sum.VersionID || third.ETag != sum.ETag {
		t.Fatalf("Process of a new upload: %+v %v (first %+v)", third, err, sum)
	}
	if msgs := f.messages(t); len(msgs) != 1 || msgs[0].ManifestVersion != third.VersionID {
		t.Errorf("new upload: messages %+v", msgs)
	}

	sum, err = h.Process(ctx, provider.Object{Bucket: f.s.Bucket, Key: "junk.7z"})
	if err != nil || sum.Error == "" {
		t.Fatalf("Process junk: %+v %v", sum, err)
	}
	m, err = tb.Get(ctx, results.ID("s3://"+f.s.Bucket+"/junk.7z", sum.Version()))
	if err != nil || m.State != results.StateFailed || !strings.Contains(m.Error, "unknown manifest format") || m.Finished == "" {
		t.Fatalf("junk item %+v %v, want failed", m, err)
	}
}
