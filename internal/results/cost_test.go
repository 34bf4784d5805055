package results_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// meter counts the requests that reach moto and the capacity units
// DynamoDB would charge for them, from the sizes of the items written and
// read (DynamoDB's item size: attribute names plus values).
type meter struct {
	*dynamodb.Client
	mu           sync.Mutex
	calls        map[string]int
	wcu, rcu     float64
	manifestSize int            // the manifest item, as last read
	devices      map[string]int // size of each device item written, by sort key
}

func (m *meter) add(op string, wcu, rcu float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[op]++
	m.wcu += wcu
	m.rcu += rcu
}

func size(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return len(strings.TrimLeft(x.Value, "-"))/2 + 1
	case *types.AttributeValueMemberM:
		return 3 + size(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	}
	return 0
}

func units(bytes, per int) float64 { return math.Ceil(float64(max(bytes, 1)) / float64(per)) }

func (m *meter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	w := 0.0
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			w += 2 * units(size(it.Put.Item), 1024)
			m.mu.Lock()
			if sk, ok := it.Put.Item[results.AttrSK].(*types.AttributeValueMemberS); ok {
				if _, seen := m.devices[sk.Value]; !seen {
					m.devices[sk.Value] = size(it.Put.Item)
				}
			}
			m.mu.Unlock()
		case it.Update != nil:
			w += 2 * units(m.manifestSize, 1024)
		}
	}
	m.add("TransactWriteItems", w, 0)
	return m.Client.TransactWriteItems(ctx, in, optFns...)
}

func (m *meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	m.add("UpdateItem", units(m.manifestSize, 1024), 0)
	return m.Client.UpdateItem(ctx, in, optFns...)
}

func (m *meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := m.Client.GetItem(ctx, in, optFns...)
	if err == nil {
		m.mu.Lock()
		m.manifestSize = size(out.Item)
		m.mu.Unlock()
		m.add("GetItem", 0, units(size(out.Item), 4096)) // strongly consistent
	}
	return out, err
}

func (m *meter) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := m.Client.Query(ctx, in, optFns...)
	if err == nil {
		// Every item of the partition is read, the filter applied after;
		// eventually consistent reads cost half.
		m.mu.Lock()
		n := 0
		for _, b := range m.devices {
			n += b
		}
		m.mu.Unlock()
		m.add("Query", 0, units(n, 4096)/2)
	}
	return out, err
}

// TestTableCost measures the results table's requests and capacity units
// for a manifest of valid devices in messages of 25 (the template's
// default), 1% of which fail, as the provider and the importers make
// them, then once more with every message delivered twice. The request
// counts are asserted. It takes 100 devices (4 messages, one failed
// device), or THINGPRESS_MEASURE_TABLE of them (BENCHMARKS.md has 1,000:
// moto copies the whole table in each transaction, so that takes minutes).
func TestTableCost(t *testing.T) {
	devices := 100
	if v, err := strconv.Atoi(os.Getenv("THINGPRESS_MEASURE_TABLE")); err == nil && v >= 100 {
		devices = v / 100 * 100
	}
	msgs := devices / 25
	s := stacktest.New(t, "tp-results-cost", stacktest.Options{})
	ctx := t.Context()
	pem := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat(strings.Repeat("A", 64)+"\n", 11) + "-----END CERTIFICATE-----\n"
	run := func(t *testing.T, name string, deliveries int) *meter {
		m := &meter{Client: s.DDB, calls: map[string]int{}, devices: map[string]int{}}
		tb := results.New(m, s.Table)
		uri := "s3://tp-results-cost-infineon/reels/" + name + ".7z"
		id := results.ID(uri, "0123456789abcdef0123456789abcdef")
		if _, err := tb.Reading(ctx, id, uri, "0123456789abcdef0123456789abcdef"); err != nil {
			t.Fatal(err)
		}
		done := 0
		for msg := range msgs {
			var rs []results.Result
			for i := range 25 {
				n := msg*25 + i
				d := results.Device{
					ChipID: fmt.Sprintf("%020X", n), ReelID: "78211223032C7EFA", BatchID: "b41425b9-b42b-47fd-95c2-f981b4c61561",
					ThingName: fmt.Sprintf("%064x", n), CertificateID: fmt.Sprintf("%064x", n+1<<40), CertificatePEM: pem,
				}
				r := results.Result{Device: d, Outcome: results.Imported}
				if n%100 == 0 {
					r.Outcome, r.Reason = results.Failed, "CreateThing: a thing named "+d.ThingName+" exists with other settings (type or attributes); not overwritten"
				}
				rs = append(rs, r)
			}
			for range deliveries {
				_, ok, err := tb.Record(ctx, results.Delivery{Manifest: id, MessageID: fmt.Sprint(msg), Results: rs})
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					done++
				}
			}
		}
		final, ok, err := tb.Queued(ctx, id, devices)
		if err != nil || !ok {
			t.Fatalf("Queued: %v %v", ok, err)
		}
		// As the caller does once it told the end (Finish).
		if err := tb.MarkNotified(ctx, final); err != nil {
			t.Fatal(err)
		}
		if failed, err := tb.FailedDevices(ctx, id); err != nil || len(failed) != devices/100 {
			t.Fatalf("failed devices: %d %v", len(failed), err)
		}
		got, err := tb.Get(ctx, id)
		if err != nil || got.Imported != devices*99/100 || got.Failed != devices/100 || done != 0 {
			t.Fatalf("manifest %+v %v, done %d times before Queued", got, err, done)
		}
		return m
	}
	for _, tc := range []struct {
		name       string
		deliveries int
		want       map[string]int
	}{
		// Per message: one transaction and one consistent read; the
		// provider's reading, queued and done updates, and the read
		// after queued; the update that marks the end told; one query
		// of the failed devices; one Get.
		{name: "once", deliveries: 1, want: map[string]int{"TransactWriteItems": msgs, "GetItem": msgs + 2, "UpdateItem": 4, "Query": 1}},
		// A second delivery: its transaction is cancelled whole, and no
		// second one is sent.
		{name: "twice", deliveries: 2, want: map[string]int{"TransactWriteItems": 2 * msgs, "GetItem": 2*msgs + 2, "UpdateItem": 4, "Query": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := run(t, tc.name, tc.deliveries)
			for op, want := range tc.want {
				if m.calls[op] != want {
					t.Errorf("%s: %d requests, want %d (all: %v)", op, m.calls[op], want, m.calls)
				}
			}
			t.Logf("%d devices, messages delivered %d times: requests %v; %.0f write units, %.1f read units", devices, tc.deliveries, m.calls, m.wcu, m.rcu)
		})
	}
}
