package stacktest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// padding makes a device's queue message larger than SQS takes (the
// results table's item still fits DynamoDB's 400 KB).
var padding = strings.Repeat("x", 300<<10)

// pad makes the failed device's stored record too big to queue, or (off)
// makes it as it was.
func pad(t *testing.T, s *stacktest.Stack, id string, d results.Device, on bool) {
	t.Helper()
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table),
		Key: map[string]ddbtypes.AttributeValue{
			results.AttrPK: &ddbtypes.AttributeValueMemberS{Value: results.DevicePrefix + id},
			results.AttrSK: &ddbtypes.AttributeValueMemberS{Value: d.CertificateID},
		},
		ExpressionAttributeNames: map[string]string{"#a": "attributes", "#p": "pad"},
	}
	switch {
	case on && d.Attributes != nil:
		in.UpdateExpression = aws.String("SET #a.#p = :p")
	case on:
		in.UpdateExpression = aws.String("SET #a = :m")
		delete(in.ExpressionAttributeNames, "#p")
	case d.Attributes != nil:
		in.UpdateExpression = aws.String("REMOVE #a.#p")
	default:
		in.UpdateExpression = aws.String("REMOVE #a")
		delete(in.ExpressionAttributeNames, "#p")
	}
	if on {
		p := &ddbtypes.AttributeValueMemberS{Value: padding}
		in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":p": p}
		if d.Attributes == nil {
			in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":m": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"pad": p}}}
		}
	}
	if _, err := s.DDB.UpdateItem(t.Context(), in); err != nil {
		t.Fatalf("pad %s (%v): %v", d.ThingName, on, err)
	}
}

// TestStackRetrySendFails: a retry whose sends fail never leaves the
// manifest importing for good. When the first send fails, the manifest is
// done again at once with its counts and its end told again; when the
// second of three fails, the queued device finishes the round, the two
// not queued stay failed, and the next retry takes them.
func TestStackRetrySendFails(t *testing.T) {
	const good, clashing = 5, 3
	res, devices := bundle(t, good)
	s := stacktest.New(t, "tp-retry-fails", stacktest.Options{
		Proxy: iotproxy.Config{StrictCreateThing: true}, VisibilityTimeout: 1, ResultsTopic: true,
	})
	ctx := t.Context()
	topic, notified := notices(t, s)
	if topic != s.ResultsTopic {
		t.Fatalf("notices topic %s, stack's %s", topic, s.ResultsTopic)
	}
	clash(t, s, devices[:clashing])
	const key = "reels/fails.7z"
	var metrics stacktest.Metrics
	fin := s.Finisher(topic)
	_, _, id := readWithResults(t, s, res, key, fin, &metrics)
	h := importerWithResults(t, s, 1, fin, &metrics)
	deliver := func() { s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{h.Handle}}) }
	deliver()
	get := func() results.Manifest {
		t.Helper()
		m, err := s.Results().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := func(m results.Manifest, state results.State, round, outstanding int, c counts) {
		t.Helper()
		if m.State != state || m.Round != round || m.Outstanding != outstanding || tableCounts(m) != c {
			t.Fatalf("manifest %s round %d outstanding %d %+v; want %s round %d outstanding %d %+v",
				m.State, m.Round, m.Outstanding, tableCounts(m), state, round, outstanding, c)
		}
	}
	want(get(), results.StateDone, 0, 0, counts{good, good - clashing, 0, clashing})
	if got := notified(); len(got) != 1 {
		t.Fatalf("notices %q, want one", got)
	}
	unclash(t, s, devices[:clashing])
	failed, err := s.Results().FailedDevices(ctx, id)
	if err != nil || len(failed) != clashing {
		t.Fatalf("failed devices %+v %v", failed, err)
	}
	retry := func() (stackclient.RetryResult, error) {
		return s.Client().Retry(ctx, stackclient.RetryInput{ManifestInput: stackclient.ManifestInput{Stack: s.Name, Manifest: key}, DevicesPerMessage: 1})
	}
	status := func() stackclient.ManifestSummary {
		t.Helper()
		st, err := s.Client().Status(ctx, stackclient.StatusInput{Stack: s.Name, Manifest: key})
		if err != nil || len(st.Summaries) != 1 || st.Summaries[0].Results == nil {
			t.Fatalf("status %+v %v", st, err)
		}
		return st.Summaries[0]
	}

	t.Run("first send fails", func(t *testing.T) {
		before := get()
		pad(t, s, id, failed[0], true)
		defer pad(t, s, id, failed[0], false)
		time.Sleep(5 * time.Millisecond) // a new finished time
		rr, err := retry()
		t.Logf("retry: %v", err)
		var re *stackclient.RetryError
		if !errors.As(err, &re) || !errors.Is(err, stackclient.ErrRetryIncomplete) || rr.Devices != 0 || rr.Round != 1 {
			t.Fatalf("retry: %+v %v, want a RetryError", rr, err)
		}
		if re.Queued != 0 || re.NotQueued != clashing || !re.Left || !re.Done || !re.Told || re.Cleanup != nil {
			t.Fatalf("retry error %+v", re)
		}
		for _, w := range []string{"retry 1 queued 0 of its 3 failed devices; 3 not queued stay failed", "run thingpress retry again once the manifest is done",
			"(it is done now, its end told)", "queue devices: "} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		m := get()
		want(m, results.StateDone, 1, 0, tableCounts(before))
		if m.Notified == "" || m.Finished == "" || m.Finished == before.Finished {
			t.Errorf("after: %+v, want done again and told", m)
		}
		if st := status(); st.State() != "done" || tableCounts(*st.Results) != tableCounts(before) {
			t.Errorf("status %s %+v", st.State(), st.Results)
		}
		if f := finalSummary(t, s, key); f.Round != 1 || f.Finished != m.Finished || tableCounts(f.Manifest) != tableCounts(before) {
			t.Errorf("final summary %+v, want round 1 with the table's counts", f)
		}
		if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"failed": 3`) || !strings.Contains(got[0], `"round": 1`) {
			t.Errorf("notices %q, want one of round 1", got)
		}
		if d := s.Depth(t, s.ImportQueue); d.Total() != 0 {
			t.Errorf("import queue %+v, want empty", d)
		}
		if again, err := s.Results().FailedDevices(ctx, id); err != nil || len(again) != clashing {
			t.Errorf("failed devices after %+v %v, want the %d", again, err, clashing)
		}
	})

	t.Run("second send fails", func(t *testing.T) {
		pad(t, s, id, failed[1], true)
		rr, err := retry()
		t.Logf("retry: %v", err)
		var re *stackclient.RetryError
		if !errors.As(err, &re) || rr.Devices != 1 || rr.Messages != 1 || rr.Round != 2 {
			t.Fatalf("retry: %+v %v, want a RetryError", rr, err)
		}
		if re.Queued != 1 || re.NotQueued != 2 || !re.Left || re.Done || re.Cleanup != nil {
			t.Fatalf("retry error %+v", re)
		}
		if w := "retry 2 queued 1 of its 3 failed devices; 2 not queued stay failed: run thingpress retry again once the manifest is done: queue devices: "; !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
		want(get(), results.StateImporting, 2, 1, counts{good, good - clashing, 0, clashing})
		if st := status(); st.State() != "importing" {
			t.Errorf("status %s, want importing", st.State())
		}
		if _, err := retry(); !errors.Is(err, results.ErrState) {
			t.Errorf("retry while the queued device is out: %v, want ErrState", err)
		}
		deliver()
		m := get()
		want(m, results.StateDone, 2, 0, counts{good, good - clashing + 1, 0, clashing - 1})
		if m.Notified == "" {
			t.Error("the round's end not told")
		}
		if st := status(); st.State() != "done" || tableCounts(*st.Results) != tableCounts(m) {
			t.Errorf("status %s %+v", st.State(), st.Results)
		}
		if f := finalSummary(t, s, key); f.Round != 2 || tableCounts(f.Manifest) != tableCounts(m) {
			t.Errorf("final summary %+v, want round 2 as the table", f)
		}
		if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"failed": 2`) {
			t.Errorf("notices %q, want one with 2 failed", got)
		}
		left, err := s.Results().FailedDevices(ctx, id)
		if err != nil || len(left) != 2 || left[0].CertificateID != failed[1].CertificateID || left[1].CertificateID != failed[2].CertificateID {
			t.Fatalf("failed devices %+v %v, want the two not queued", left, err)
		}
		for _, d := range left {
			if d.Attempts != 1 || !strings.Contains(d.Reason, "already exists") {
				t.Errorf("device not queued %+v: want its first attempt and reason", d)
			}
		}
	})

	t.Run("next retry takes the rest", func(t *testing.T) {
		pad(t, s, id, failed[1], false)
		rr, err := retry()
		if err != nil || rr.Devices != 2 || rr.Round != 3 {
			t.Fatalf("retry: %+v %v", rr, err)
		}
		deliver()
		m := get()
		want(m, results.StateDone, 3, 0, counts{good, good, 0, 0})
		if f := finalSummary(t, s, key); f.Round != 3 || f.Imported != good || f.Failed != 0 {
			t.Errorf("final summary %+v", f)
		}
		if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"failed": 0`) {
			t.Errorf("notices %q, want one", got)
		}
		s.IoT.AssertComplete(t, devices)
	})
}
