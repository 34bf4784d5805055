package stack_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/stack"
)

// TestSummaryJSON pins the summary object's bytes, as the provider writes
// it: `thingpress status` of any version reads it from the bucket.
func TestSummaryJSON(t *testing.T) {
	s := stack.Summary{
		Manifest: "s3://b/k.7z", ETag: "e", Started: "t0", Finished: "t1", Slot: "E0E0", ReelIDs: []string{"R"},
		Counts:   outcome.Counts{Total: 3, Valid: 2, Invalid: 1, Reasons: map[string]int{"expired": 1}, PrivateKeys: 1},
		Messages: 1,
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"manifest":"s3://b/k.7z","etag":"e","started":"t0","finished":"t1","slot":"E0E0","reel_ids":["R"],` +
		`"devices":3,"valid":2,"invalid":1,"reasons":{"expired":1},"messages":1}`
	if string(b) != want {
		t.Errorf("summary\n got %s\nwant %s", b, want)
	}
	var back stack.Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	s.PrivateKeys = 0 // not in the bucket's form
	if !reflect.DeepEqual(back, s) {
		t.Errorf("read back %+v, want %+v", back, s)
	}
}

// TestMessageJSON pins an import queue message's bytes: the provider and
// importer functions of two versions may share a queue.
func TestMessageJSON(t *testing.T) {
	m := stack.Message{Manifest: "s3://b/k.7z", Attempt: 1, Devices: []stack.QueuedDevice{
		{Device: importer.Device{ChipID: "C", ThingName: "t", CertificateID: "x", CertificatePEM: "p"}},
		{Device: importer.Device{ReelID: "R", ThingName: "u", CertificateID: "y", CertificatePEM: "q", Attributes: map[string]string{"a": "b"}},
			CertificateARN: "arn", Existed: true, Done: []string{"thing", "register"}},
	}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"manifest":"s3://b/k.7z","attempt":1,"devices":[` +
		`{"chip_id":"C","thing_name":"t","certificate_id":"x","certificate_pem":"p"},` +
		`{"reel_id":"R","thing_name":"u","certificate_id":"y","certificate_pem":"q","attributes":{"a":"b"},` +
		`"certificate_arn":"arn","existed":true,"done":["thing","register"]}]}`
	if string(b) != want {
		t.Errorf("message\n got %s\nwant %s", b, want)
	}
}
