package results_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

func dev(i int) results.Device {
	return results.Device{ChipID: fmt.Sprintf("chip%d", i), ThingName: fmt.Sprintf("thing%d", i), CertificateID: fmt.Sprintf("%064x", i), CertificatePEM: "PEM"}
}

func res(i int, o results.Outcome) results.Result {
	r := results.Result{Device: dev(i), Outcome: o}
	if o == results.Failed {
		r.Reason = "clash"
	}
	return r
}

type counts struct{ valid, imported, exists, failed, requeued int }

func check(t *testing.T, tb *results.Table, id string, state results.State, want counts) results.Manifest {
	t.Helper()
	m, err := tb.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := counts{m.Valid, m.Imported, m.Exists, m.Failed, m.Requeued}
	if m.State != state || got != want {
		t.Fatalf("manifest %s: state %s counts %+v, want %s %+v", id, m.State, got, state, want)
	}
	return m
}

// TestTable runs the table's transitions against moto's DynamoDB.
func TestTable(t *testing.T) {
	s := stacktest.New(t, "tp-results", stacktest.Options{})
	tb := s.Results()
	ctx := t.Context()

	t.Run("redelivery counts once and one caller sees done", func(t *testing.T) {
		id := results.ID("s3://b/one.7z", "e1")
		if ok, err := tb.Reading(ctx, id, "s3://b/one.7z", "e1"); err != nil || !ok {
			t.Fatalf("Reading: %v %v", ok, err)
		}
		if _, done, err := tb.Queued(ctx, id, 3); err != nil || done {
			t.Fatalf("Queued: %v %v", done, err)
		}
		d := results.Delivery{Manifest: id, MessageID: "m1", Results: []results.Result{res(1, results.Imported), res(2, results.Failed)}, Requeued: 1}
		for range 3 {
			if _, done, err := tb.Record(ctx, d); err != nil || done {
				t.Fatalf("Record: %v %v", done, err)
			}
		}
		check(t, tb, id, results.StateQueued, counts{3, 1, 0, 1, 1})
		m, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m2", Results: []results.Result{res(3, results.Exists)}})
		if err != nil || !done || m.State != results.StateDone || m.Finished == "" {
			t.Fatalf("last device: %+v %v %v", m, done, err)
		}
		// Until its end is told, every caller is asked to tell it.
		if again, done, err := tb.CheckDone(ctx, id); err != nil || !done || again.Finished != m.Finished || again.Notified != "" {
			t.Fatalf("done but not told: %+v %v %v, want asked to finish", again, done, err)
		}
		if err := tb.MarkNotified(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, done, err := tb.CheckDone(ctx, id); err != nil || done {
			t.Fatalf("done and told, asked again: %v %v", done, err)
		}
		if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m2", Results: []results.Result{res(3, results.Exists)}}); err != nil || done {
			t.Fatalf("last message delivered again after the end was told: %v %v", done, err)
		}
		told := check(t, tb, id, results.StateDone, counts{3, 1, 1, 1, 1})
		if told.Notified == "" {
			t.Fatal("notified not set")
		}
		if ok, err := tb.Reading(ctx, id, "s3://b/one.7z", "e1"); err != nil || ok {
			t.Fatalf("Reading a queued manifest again: %v %v", ok, err)
		}
		failed, err := tb.FailedDevices(ctx, id)
		if err != nil || len(failed) != 1 || failed[0].ChipID != "chip2" || failed[0].Reason != "clash" || failed[0].Attempts != 1 || failed[0].CertificatePEM != "PEM" {
			t.Fatalf("failed devices %+v, %v", failed, err)
		}

		// A retry: the failed device imported, counted once.
		if _, err := tb.StartRetry(ctx, results.ID("s3://b/none.7z", ""), 1); !errors.Is(err, results.ErrState) {
			t.Fatalf("retry of an unknown manifest: %v", err)
		}
		round, err := tb.StartRetry(ctx, id, 1)
		if err != nil || round != 1 {
			t.Fatalf("StartRetry: %d %v", round, err)
		}
		if _, err := tb.StartRetry(ctx, id, 1); !errors.Is(err, results.ErrState) {
			t.Fatalf("second retry while importing: %v", err)
		}
		if m := check(t, tb, id, results.StateImporting, counts{3, 1, 1, 1, 1}); m.Notified != "" || m.Finished != "" {
			t.Fatalf("a retry keeps the last round's end: %+v", m)
		}
		// The first round's end, told late, does not count for the retry.
		if err := tb.MarkNotified(ctx, told); err != nil {
			t.Fatal(err)
		}
		r := results.Delivery{Manifest: id, MessageID: "m3", Round: round, Results: []results.Result{res(2, results.Imported), res(1, results.Imported)}}
		m, done, err = tb.Record(ctx, r)
		if err != nil || !done || m.Notified != "" {
			t.Fatalf("retry Record: %+v %v %v", m, done, err)
		}
		if err := tb.MarkNotified(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, done, err := tb.Record(ctx, r); err != nil || done {
			t.Fatalf("retry delivered again: %v %v", done, err)
		}
		check(t, tb, id, results.StateDone, counts{3, 2, 1, 0, 1})
		if failed, err := tb.FailedDevices(ctx, id); err != nil || len(failed) != 0 {
			t.Fatalf("failed after the retry: %+v %v", failed, err)
		}
	})

	t.Run("devices before the end of reading", func(t *testing.T) {
		id := results.ID("s3://b/two.xml", "")
		if _, err := tb.Reading(ctx, id, "s3://b/two.xml", ""); err != nil {
			t.Fatal(err)
		}
		var rs []results.Result
		for i := range 250 {
			rs = append(rs, res(i, results.Imported))
		}
		// Some recorded already, in a transaction of their own.
		if _, _, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "a", Results: rs[100:130]}); err != nil {
			t.Fatal(err)
		}
		if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "b", Results: rs}); err != nil || done {
			t.Fatalf("Record while reading: %v %v", done, err)
		}
		check(t, tb, id, results.StateReading, counts{0, 250, 0, 0, 0})
		m, done, err := tb.Queued(ctx, id, 250)
		if err != nil || !done || m.Imported != 250 {
			t.Fatalf("Queued after every device: %+v %v %v", m, done, err)
		}
	})

	t.Run("a manifest that failed is not done", func(t *testing.T) {
		id := results.ID("s3://b/bad.7z", "x")
		if _, err := tb.Reading(ctx, id, "s3://b/bad.7z", "x"); err != nil {
			t.Fatal(err)
		}
		if err := tb.Fail(ctx, id, "malformed"); err != nil {
			t.Fatal(err)
		}
		if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, Results: []results.Result{res(1, results.Imported)}}); err != nil || done {
			t.Fatalf("Record: %v %v", done, err)
		}
		m := check(t, tb, id, results.StateFailed, counts{0, 1, 0, 0, 0})
		if m.Error != "malformed" {
			t.Errorf("error %q", m.Error)
		}
		if ok, err := tb.Reading(ctx, id, "s3://b/bad.7z", "x"); err != nil || !ok {
			t.Fatalf("a failed manifest is read again: %v %v", ok, err)
		}
	})
}

// TestFinishMarksTold: Table.Finish marks a manifest told only when the
// final summary was written; until then CheckDone asks for it again.
func TestFinishMarksTold(t *testing.T) {
	s := stacktest.New(t, "tp-results-finish", stacktest.Options{})
	tb := s.Results()
	ctx := t.Context()
	const bucket = "tp-results-finish-late"
	uri := "s3://" + bucket + "/reels/late.7z"
	id := results.ID(uri, "e1")
	if _, err := tb.Reading(ctx, id, uri, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Queued(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	m, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m1", Results: []results.Result{res(1, results.Imported)}})
	if err != nil || !done {
		t.Fatalf("Record: %v %v", done, err)
	}
	f := &results.Finisher{S3: s.S3}
	if err := tb.Finish(ctx, f, m); err == nil {
		t.Fatal("Finish into a missing bucket: no error")
	}
	again, done, err := tb.CheckDone(ctx, id)
	if err != nil || !done || again.Notified != "" {
		t.Fatalf("after a failed Finish: %+v %v %v, want asked again", again, done, err)
	}
	if _, err := s.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Finish(ctx, f, again); err != nil {
		t.Fatal(err)
	}
	if _, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(stack.ResultKey(stack.DefaultSummaryPrefix, "reels/late.7z"))}); err != nil {
		t.Fatalf("final summary: %v", err)
	}
	told := check(t, tb, id, results.StateDone, counts{1, 1, 0, 0, 0})
	if told.Notified == "" {
		t.Fatal("notified not set")
	}
	if _, done, err := tb.CheckDone(ctx, id); err != nil || done {
		t.Fatalf("told, asked again: %v %v", done, err)
	}
}

// TestLeaveRetry: devices of a retry that were never queued leave its
// round: outstanding goes down by each, none counted twice (one recorded
// already stays as recorded, a late message of one taken out adds
// nothing), and the manifest is done when the rest is.
func TestLeaveRetry(t *testing.T) {
	s := stacktest.New(t, "tp-results-leave", stacktest.Options{})
	tb := s.Results()
	ctx := t.Context()
	id := results.ID("s3://b/leave.7z", "e1")
	if _, err := tb.Reading(ctx, id, "s3://b/leave.7z", "e1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m1", Results: []results.Result{
		res(1, results.Imported), res(2, results.Failed), res(3, results.Failed), res(4, results.Failed),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, done, err := tb.Queued(ctx, id, 4); err != nil || !done {
		t.Fatalf("Queued: %v %v", done, err)
	}
	if err := tb.MarkNotified(ctx, check(t, tb, id, results.StateDone, counts{4, 1, 0, 3, 0})); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.LeaveRetry(ctx, id, 1, []results.Device{dev(2)}); !errors.Is(err, results.ErrState) {
		t.Fatalf("LeaveRetry of a done manifest: %v, want ErrState", err)
	}
	round, err := tb.StartRetry(ctx, id, 3)
	if err != nil || round != 1 {
		t.Fatalf("StartRetry: %d %v", round, err)
	}
	if _, err := tb.LeaveRetry(ctx, id, round+1, []results.Device{dev(2)}); !errors.Is(err, results.ErrState) {
		t.Fatalf("LeaveRetry of another round: %v, want ErrState", err)
	}
	// Device 2's message was queued after all and is recorded before
	// LeaveRetry: it stays counted once.
	if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m2", Round: round, Results: []results.Result{res(2, results.Imported)}}); err != nil || done {
		t.Fatalf("Record of round 1: %v %v", done, err)
	}
	left, err := tb.LeaveRetry(ctx, id, round, []results.Device{dev(2), dev(3)})
	if err != nil || left != 1 {
		t.Fatalf("LeaveRetry: %d %v, want 1 (device 2 recorded already)", left, err)
	}
	m := check(t, tb, id, results.StateImporting, counts{4, 2, 0, 2, 0})
	if m.Outstanding != 1 || m.Round != 1 {
		t.Fatalf("outstanding %d round %d, want 1 (device 4) in round 1", m.Outstanding, m.Round)
	}
	// Device 3's message arrives late: it was taken out, nothing counts.
	if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m3", Round: round, Results: []results.Result{res(3, results.Imported)}}); err != nil || done {
		t.Fatalf("Record of a device taken out: %v %v", done, err)
	}
	check(t, tb, id, results.StateImporting, counts{4, 2, 0, 2, 0})
	m, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m4", Round: round, Results: []results.Result{res(4, results.Failed)}})
	if err != nil || !done || m.State != results.StateDone || m.Outstanding != 0 {
		t.Fatalf("last device of the round: %+v %v %v, want done", m, done, err)
	}
	check(t, tb, id, results.StateDone, counts{4, 2, 0, 2, 0})
	failed, err := tb.FailedDevices(ctx, id)
	if err != nil || len(failed) != 2 {
		t.Fatalf("failed devices %+v %v, want devices 3 and 4", failed, err)
	}
	for _, d := range failed {
		if d.Round != 1 || d.Reason != "clash" || d.CertificatePEM != "PEM" {
			t.Errorf("failed device %+v: want round 1 with its reason and certificate", d)
		}
	}
	if d := failed[0]; d.ChipID != "chip3" || d.Attempts != 1 {
		t.Errorf("device taken out: %+v, want chip3 with its one attempt", d)
	}
	// The next retry takes both.
	if round, err := tb.StartRetry(ctx, id, len(failed)); err != nil || round != 2 {
		t.Fatalf("next StartRetry: %d %v", round, err)
	}
	if _, done, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: "m5", Round: 2, Results: []results.Result{res(3, results.Imported), res(4, results.Imported)}}); err != nil || !done {
		t.Fatalf("round 2: %v %v", done, err)
	}
	check(t, tb, id, results.StateDone, counts{4, 4, 0, 0, 0})

	t.Run("none queued", func(t *testing.T) {
		round, err := tb.StartRetry(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if left, err := tb.LeaveRetry(ctx, id, round, nil); err != nil || left != 0 {
			t.Fatalf("LeaveRetry of no device: %d %v", left, err)
		}
		if m, done, err := tb.CheckDone(ctx, id); err != nil || !done || m.Round != round {
			t.Fatalf("CheckDone: %+v %v %v, want done", m, done, err)
		}
	})
}
