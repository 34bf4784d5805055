package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// TestStatusAndRetryResults runs status, status --failed and retry on a
// stack in moto whose results table holds a done manifest with one
// failed device.
func TestStatusAndRetryResults(t *testing.T) {
	isolateAWS(t)
	s := stacktest.New(t, "tp-cli-results", stacktest.Options{})
	const key = "reels/reel-1.xml"
	root, err := generate.NewRoot("test root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(generate.LeafOptions{Seed: "failed"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw}))
	dev := func(i int) results.Device {
		return results.Device{ChipID: "CHIP" + string(rune('0'+i)), ReelID: "REEL1", ThingName: "thing-" + string(rune('0'+i)),
			CertificateID: strings.Repeat(string(rune('a'+i)), 64), CertificatePEM: certPEM}
	}
	uri, _, _ := doneManifest(t, s, key, "e1", []results.Result{
		{Device: dev(0), Outcome: results.Imported}, {Device: dev(1), Outcome: results.Imported},
		{Device: dev(2), Outcome: results.Failed, Reason: "CreateThing: a thing named thing-2 exists with other settings"},
	})
	aws := []string{"--endpoint-url", s.Moto.URL}

	out, stderr, code := runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key}, aws...)...)
	row := regexp.MustCompile(`(?m)^reels/reel-1\.xml\s+done\s+3\s+3\s+0\s+2\s+0\s+1\s+0\s+\d[0-9.ms]*s\s+\d+\.\d/s$`)
	if code != exitOK || !row.MatchString(out) || !strings.Contains(out, "1 devices failed") {
		t.Fatalf("status: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name, "--output", "json"}, aws...)...)
	var st stackclient.Status
	if err := json.Unmarshal([]byte(out), &st); code != exitOK || err != nil {
		t.Fatalf("status json: exit %d %v\n%s%s", code, err, out, stderr)
	}
	if len(st.Summaries) != 1 || st.Summaries[0].Results == nil || st.Summaries[0].Results.Failed != 1 || st.ResultsTable != s.Table {
		t.Errorf("status json %+v", st)
	}

	out, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key, "--failed", "-"}, aws...)...)
	var got results.Device
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("--failed -: exit %d %v\n%s%s", code, err, out, stderr)
	}
	if got.ChipID != "CHIP2" || got.ThingName != "thing-2" || got.Outcome != results.Failed || got.Attempts != 1 ||
		!strings.Contains(got.Reason, "other settings") || strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("failed device line %s", out)
	}
	if !strings.Contains(stderr, "1 failed devices of 3 valid") {
		t.Errorf("--failed - says on stderr %q", stderr)
	}

	// As a manifest the stack reads again.
	xmlPath := filepath.Join(t.TempDir(), "failed.xml")
	if _, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key, "--failed", xmlPath}, aws...)...); code != exitOK {
		t.Fatalf("--failed %s: exit %d %s", xmlPath, code, stderr)
	}
	src, f, err := format.Open(xmlPath, format.Auto, manifest.Options{Slot: "E0E1"})
	if err != nil {
		b, _ := os.ReadFile(xmlPath)
		t.Fatalf("the failed manifest does not open: %v\n%s", err, b)
	}
	defer src.Close()
	var recs []manifest.Record
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if f != format.XML || len(recs) != 1 || recs[0].ChipID != "CHIP2" || recs[0].ReelID != "REEL1" || !strings.Contains(string(recs[0].Data), "BEGIN CERTIFICATE") {
		t.Errorf("failed manifest (%s) reads as %+v", f, recs)
	}

	out, stderr, code = runCLI(t, append([]string{"retry", "--stack", s.Name, "--manifest", key}, aws...)...)
	if code != exitOK || !strings.Contains(out, "1 failed devices queued again in 1 messages (retry 1)") {
		t.Fatalf("retry: exit %d\n%s%s", code, out, stderr)
	}
	msgs := s.Receive(t, s.ImportQueue)
	var m stack.Message
	if len(msgs) != 1 || json.Unmarshal([]byte(msgs[0]), &m) != nil {
		t.Fatalf("import queue holds %q", msgs)
	}
	if m.Manifest != uri || m.ManifestETag != "e1" || m.Round != 1 || len(m.Devices) != 1 || m.Devices[0].ThingName != "thing-2" || m.Devices[0].CertificatePEM != certPEM {
		t.Errorf("retry message %+v", m)
	}
	out, _, _ = runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key}, aws...)...)
	if !strings.Contains(out, " importing ") {
		t.Errorf("status after retry:\n%s", out)
	}

	tests := []usageCase{
		{name: "retry while importing", args: []string{"retry", "--stack", s.Name, "--manifest", key}, want: "is not done"},
		{name: "retry without --manifest", args: []string{"retry", "--stack", s.Name}, want: "--manifest is required"},
		{name: "retry of an unknown manifest", args: []string{"retry", "--stack", s.Name, "--manifest", "nope.7z"}, want: "nope.7z"},
		{name: "--failed without --manifest", args: []string{"status", "--stack", s.Name, "--failed", "-"}, want: "--failed needs --manifest"},
		{name: "--failed-format", args: []string{"status", "--stack", s.Name, "--manifest", key, "--failed", "-", "--failed-format", "csv"}, want: "want jsonl or xml"},
	}
	runUsageCases(t, tests, aws...)
}

// TestRetrySendFails: retry --devices-per-message 1 of three failed
// devices whose second is too big for one SQS message queues the first,
// says what it did not queue and fails; the manifest waits for the one
// queued only, and is done once it is recorded, the other two failed.
func TestRetrySendFails(t *testing.T) {
	isolateAWS(t)
	s := stacktest.New(t, "tp-cli-retry-fails", stacktest.Options{})
	ctx := t.Context()
	const key = "reels/reel-2.xml"
	dev := func(i int) results.Device {
		d := results.Device{ChipID: fmt.Sprintf("CHIP%d", i), ThingName: fmt.Sprintf("thing-%d", i),
			CertificateID: strings.Repeat(string(rune('a'+i)), 64), CertificatePEM: "-----BEGIN CERTIFICATE-----\n"}
		if i == 1 {
			// Too big for a message of its own (the item fits DynamoDB's 400 KB).
			d.Attributes = map[string]string{"pad": strings.Repeat("x", 300<<10)}
		}
		return d
	}
	var rs []results.Result
	for i := range 3 {
		rs = append(rs, results.Result{Device: dev(i), Outcome: results.Failed, Reason: "clash"})
	}
	uri, tb, id := doneManifest(t, s, key, "e2", rs)
	awsFlags := []string{"--endpoint-url", s.Moto.URL}

	_, stderr, code := runCLI(t, append([]string{"retry", "--stack", s.Name, "--manifest", key, "--devices-per-message", "1"}, awsFlags...)...)
	want := uri + ": retry 1 queued 1 of its 3 failed devices; 2 not queued stay failed: run thingpress retry again once the manifest is done: queue devices: "
	if code != exitFatal || !strings.Contains(stderr, want) || !strings.Contains(stderr, "Message must be shorter than 262144 bytes") {
		t.Fatalf("retry: exit %d, stderr %q; want %d and %q with the SQS error", code, stderr, exitFatal, want)
	}
	msgs := s.Receive(t, s.ImportQueue)
	var m stack.Message
	if len(msgs) != 1 || json.Unmarshal([]byte(msgs[0]), &m) != nil || m.Round != 1 || len(m.Devices) != 1 || m.Devices[0].ThingName != "thing-0" {
		t.Fatalf("import queue holds %q, want thing-0's message of round 1", msgs)
	}
	row := func(state string, imported, failed int) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`(?m)^reels/reel-2\.xml\s+%s\s+3\s+3\s+0\s+%d\s+0\s+%d\s+0\s`, state, imported, failed))
	}
	out, stderr, code := runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key}, awsFlags...)...)
	if code != exitOK || !row("importing", 0, 3).MatchString(out) {
		t.Fatalf("status after the failed retry: exit %d\n%s%s", code, out, stderr)
	}
	if mi, err := tb.Get(ctx, id); err != nil || mi.Round != 1 || mi.Outstanding != 1 {
		t.Fatalf("manifest %+v %v, want round 1 waiting for 1 device", mi, err)
	}
	if _, stderr, code := runCLI(t, append([]string{"retry", "--stack", s.Name, "--manifest", key}, awsFlags...)...); code != exitFatal || !strings.Contains(stderr, "is not done") {
		t.Fatalf("retry while thing-0 is out: exit %d %q", code, stderr)
	}
	// The importer records thing-0.
	if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m2", Round: 1, Results: []results.Result{{Device: dev(0), Outcome: results.Imported}}}); err != nil || !done {
		t.Fatalf("Record of round 1: %v %v", done, err)
	}
	out, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name, "--manifest", key}, awsFlags...)...)
	if code != exitOK || !row("done", 1, 2).MatchString(out) || !strings.Contains(out, "2 devices failed") {
		t.Fatalf("status after round 1: exit %d\n%s%s", code, out, stderr)
	}
}

// doneManifest stands for a manifest key (ETag etag) of three valid
// devices that the stack has read and imported with the results rs, all
// recorded as delivered in one message: its summary in the bucket, and in
// the results table its manifest, done. It returns the manifest's URI, the
// table and the manifest's ID in it.
func doneManifest(t *testing.T, s *stacktest.Stack, key, etag string, rs []results.Result) (uri string, tb *results.Table, id string) {
	t.Helper()
	ctx := t.Context()
	uri = "s3://" + s.Bucket + "/" + key
	started := time.Now().Add(-10 * time.Second).UTC().Format(time.RFC3339)
	sum, err := json.Marshal(stack.Summary{Manifest: uri, ETag: etag, Started: started, Finished: started, Slot: "E0E1", Counts: outcome.Counts{Total: 3, Valid: 3}, Messages: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(stack.SummaryKey(stack.DefaultSummaryPrefix, key)), Body: bytes.NewReader(sum),
	}); err != nil {
		t.Fatal(err)
	}
	tb = s.Results()
	id = results.ID(uri, etag)
	if _, err := tb.Reading(ctx, id, uri, etag); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m1", Results: rs}); err != nil {
		t.Fatal(err)
	}
	if _, done, err := tb.Queued(ctx, id, 3); err != nil || !done {
		t.Fatalf("Queued: %v %v", done, err)
	}
	return uri, tb, id
}
