package results_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/thingpress/thingpress/internal/results"
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
		if _, done, err := tb.CheckDone(ctx, id); err != nil || done {
			t.Fatalf("done a second time: %v %v", done, err)
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
		check(t, tb, id, results.StateImporting, counts{3, 1, 1, 1, 1})
		r := results.Delivery{Manifest: id, MessageID: "m3", Round: round, Results: []results.Result{res(2, results.Imported), res(1, results.Imported)}}
		m, done, err = tb.Record(ctx, r)
		if err != nil || !done {
			t.Fatalf("retry Record: %v %v", done, err)
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
