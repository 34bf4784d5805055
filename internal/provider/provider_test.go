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
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

var target = awsiot.Target{Policies: []string{iottest.Policy}, ThingType: iottest.ThingType, ThingGroups: []string{iottest.Group}}

// fixture is a stack in moto with an XML manifest of good and bad
// devices uploaded as "reels/reel a+b.xml".
type fixture struct {
	s       *stacktest.Stack
	res     *generate.Result
	anchors *trust.Store
}

const xmlKey = "reels/reel a+b.xml"

func newFixture(t *testing.T, good int) *fixture {
	t.Helper()
	s := stacktest.New(t, "tp-provider", stacktest.Options{})
	dir := t.TempDir()
	res, err := generate.Write(filepath.Join(dir, "reel.xml"), generate.Options{N: good, Format: generate.FormatXML, Bad: true})
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
	bad := len(generate.BadCases)
	if sum.Total != good+bad || sum.Valid != good || sum.Invalid != bad || sum.Messages != 3 || sum.Error != "" ||
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
	esp, gen := f.s.Buckets[stack.VendorEspressif], f.s.Buckets[stack.VendorGenerated]
	f.s.PutIn(t, esp, "modules.csv", filepath.Join("..", "manifest", "espressif", "testdata", "mixed.csv"))
	f.s.PutIn(t, esp, "chips.json", filepath.Join("..", "manifest", "microchip", "testdata", "mixed.json"))
	f.s.PutIn(t, gen, "certificates.txt", filepath.Join("..", "manifest", "generated", "testdata", "mixed.txt"))
	f.s.PutIn(t, esp, "not-espressif.csv", notManifest)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.PutIn(t, gen, stack.TrustAnchorsKey, notPEM)
	tests := []struct {
		name      string
		bucket    string // default: the Infineon bucket
		key       string
		edit      func(*provider.Config)
		wantRetry bool   // Process returns an error, so Lambda retries
		wantErr   string // in the summary
	}{
		{name: "not a manifest", key: "junk.7z", wantErr: "junk.7z: outer archive: the file is not a 7z archive"},
		{name: "another vendor's manifest", key: "esp.csv",
			wantErr: "esp.csv: manifest in another vendor's bucket: its content is of vendor Espressif, and bucket tp-provider-infineon takes infineon manifests: put it into tp-provider-espressif"},
		{name: "microchip manifest in the espressif bucket", bucket: esp, key: "chips.json",
			edit:    func(c *provider.Config) { c.NoVerifyChain = true },
			wantErr: "chips.json: manifest in another vendor's bucket: its content is of vendor Microchip, and bucket tp-provider-espressif takes espressif manifests: put it into tp-provider-microchip"},
		{name: "espressif without trust anchors", bucket: esp, key: "modules.csv",
			wantErr: "no trust anchors: s3://tp-provider-espressif/trust/ca.pem is missing: espressif certificates have no public CA"},
		{name: "trust anchors not PEM", bucket: gen, key: "certificates.txt", wantErr: "s3://tp-provider-generated/trust/ca.pem: bad trust file"},
		{name: "not an espressif manifest", bucket: esp, key: "not-espressif.csv", edit: func(c *provider.Config) { c.NoVerifyChain = true },
			wantErr: "not-espressif.csv: unknown manifest format: header is not MAC,cn,cert"},
		{name: "bucket named in the environment as another vendor's", bucket: esp, key: "modules.csv",
			edit: func(c *provider.Config) {
				c.Buckets, c.NoVerifyChain = map[string]stack.Vendor{esp: stack.VendorGenerated}, true
			},
			wantErr: "its content is of vendor Espressif, and bucket tp-provider-espressif takes generated manifests: put it into the stack's espressif bucket"},
		{name: "bucket not named in the environment", key: xmlKey,
			edit:    func(c *provider.Config) { c.Buckets = map[string]stack.Vendor{esp: stack.VendorEspressif} },
			wantErr: "not one of the stack's buckets: bucket tp-provider-infineon"},
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
			bucket := tc.bucket
			if bucket == "" {
				bucket = f.s.Bucket
			}
			sum, err := h.Process(ctx, provider.Object{Bucket: bucket, Key: tc.key})
			if (err != nil) != tc.wantRetry {
				t.Fatalf("Process: %v, want an error (retry) %v", err, tc.wantRetry)
			}
			if !strings.Contains(sum.Error, tc.wantErr) || (tc.wantErr == "") != (sum.Error == "") {
				t.Fatalf("summary error %q, want %q", sum.Error, tc.wantErr)
			}
			if stored := f.s.SummaryIn(t, bucket, tc.key); stored.Error != sum.Error || stored.Finished == "" {
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

// TestProcessNoVerifyChain: with NoVerifyChain an Espressif manifest
// without trust anchors in its bucket is read, and its good rows queued
// with their Thing attributes; the trust anchors, once there, are used
// even so.
func TestProcessNoVerifyChain(t *testing.T) {
	f := newFixture(t, 1)
	esp := f.s.Buckets[stack.VendorEspressif]
	f.s.PutIn(t, esp, "modules.csv", filepath.Join("..", "manifest", "espressif", "testdata", "mixed.csv"))
	var metrics stacktest.Metrics
	h := f.handler(t, &metrics, func(c *provider.Config) { c.NoVerifyChain = true })
	sum, err := h.Process(t.Context(), provider.Object{Bucket: esp, Key: "modules.csv"})
	if err != nil || sum.Error != "" || sum.Valid == 0 || sum.Invalid == 0 || sum.Vendor != stack.VendorEspressif {
		t.Fatalf("summary %+v, %v: want good and bad rows read", sum, err)
	}
	valid := 0
	for _, m := range f.messages(t) {
		for _, d := range m.Devices {
			valid++
			if d.ThingName == "" || d.ThingName != d.ChipID || d.Attributes["cn"] == "" {
				t.Errorf("queued device %+v: want the MAC as thing name and the cn attribute", d)
			}
		}
	}
	if valid != sum.Valid {
		t.Errorf("%d devices queued, summary says %d valid", valid, sum.Valid)
	}

	// A root that issued none of them: every row is untrusted.
	root, err := generate.NewRoot("not the espressif CA")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, generate.PEM(root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.PutIn(t, esp, stack.TrustAnchorsKey, ca)
	sum, err = h.Process(t.Context(), provider.Object{Bucket: esp, Key: "modules.csv"})
	if err != nil || sum.Error != "" || sum.Valid != 0 || sum.Reasons["untrusted chain"] == 0 {
		t.Fatalf("summary %+v, %v: want every row untrusted", sum, err)
	}
}

// TestProcessMicrochipSigners: a Microchip manifest signed by a signer of
// the customer's own is refused entry by entry until that signer is in the
// bucket's trust/signers.pem; a signers.pem with no certificate fails the
// manifest, naming the object.
func TestProcessMicrochipSigners(t *testing.T) {
	f := newFixture(t, 2)
	mc := f.s.Buckets[stack.VendorMicrochip]
	res, err := generate.Write(filepath.Join(t.TempDir(), "chips.json"), generate.Options{N: 3, Format: generate.FormatMicrochip})
	if err != nil {
		t.Fatal(err)
	}
	f.s.PutIn(t, mc, "chips.json", res.Path)
	h := f.handler(t, &stacktest.Metrics{}, nil)

	sum, err := h.Process(t.Context(), provider.Object{Bucket: mc, Key: "chips.json"})
	if err != nil || sum.Error != "" || sum.Valid != 0 || sum.Invalid != 3 || sum.Reasons["unreadable entry"] != 3 {
		t.Fatalf("summary %+v, %v: want every entry of an unknown signer", sum, err)
	}
	f.messages(t)

	signers := filepath.Join(t.TempDir(), "signers.pem")
	if err := os.WriteFile(signers, generate.PEM(res.Signer.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.PutIn(t, mc, stack.SignersKey, signers)
	sum, err = h.Process(t.Context(), provider.Object{Bucket: mc, Key: "chips.json"})
	if err != nil || sum.Error != "" || sum.Valid != 3 || sum.Invalid != 0 {
		t.Fatalf("summary %+v, %v: want the 3 entries valid", sum, err)
	}
	queued := 0
	for _, m := range f.messages(t) {
		queued += len(m.Devices)
	}
	if queued != 3 {
		t.Errorf("%d devices queued, want 3", queued)
	}

	if err := os.WriteFile(signers, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.s.PutIn(t, mc, stack.SignersKey, signers)
	sum, err = h.Process(t.Context(), provider.Object{Bucket: mc, Key: "chips.json"})
	if err != nil || !strings.Contains(sum.Error, "s3://"+mc+"/trust/signers.pem") || sum.Valid != 0 {
		t.Fatalf("summary %+v, %v: want an error naming trust/signers.pem", sum, err)
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
	if err != nil || m.State != results.StateFailed || !strings.Contains(m.Error, "not a 7z archive") || m.Finished == "" {
		t.Fatalf("junk item %+v %v, want failed", m, err)
	}
}
