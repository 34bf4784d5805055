package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/stack"
)

func TestBuilder(t *testing.T) {
	dev := func(i, pad int) []byte {
		b, _ := json.Marshal(importer.Device{ThingName: fmt.Sprintf("t%d", i), CertificateID: "c", CertificatePEM: strings.Repeat("x", pad)})
		return b
	}
	tests := []struct {
		name        string
		devices     int
		pad         int // bytes of PEM per device
		perMsg      int
		maxBytes    int
		wantBatches []int // messages per batch
	}{
		{name: "one message", devices: 3, pad: 10, perMsg: 25, maxBytes: stack.MaxMessageBytes, wantBatches: []int{1}},
		{name: "full batches then a rest", devices: 25*21 + 1, pad: 10, perMsg: 25, maxBytes: stack.MaxMessageBytes, wantBatches: []int{10, 10, 2}},
		{name: "Infineon-sized certificates fill a batch by size", devices: 250, pad: 1000, perMsg: 25, maxBytes: stack.MaxMessageBytes, wantBatches: []int{9, 1}},
		{name: "messages closed by size before the count", devices: 10, pad: 1000, perMsg: 25, maxBytes: 4000, wantBatches: []int{1, 1, 1, 1}},
		{name: "one device a message", devices: 12, pad: 10, perMsg: 1, maxBytes: stack.MaxMessageBytes, wantBatches: []int{10, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBuilder("s3://bucket/reel a+b.7z", "etag1", "v1", tc.perMsg, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			var batches [][][]byte
			for i := range tc.devices {
				full, err := b.add(dev(i, tc.pad))
				if err != nil {
					t.Fatal(err)
				}
				if full != nil {
					batches = append(batches, full)
				}
			}
			batches = append(batches, b.flush()...)
			var got []int
			next := 0
			for _, batch := range batches {
				got = append(got, len(batch))
				total := 0
				for _, body := range batch {
					total += len(body)
					if len(body) > tc.maxBytes {
						t.Errorf("message of %d bytes, limit %d", len(body), tc.maxBytes)
					}
					var m stack.Message
					if err := json.Unmarshal(body, &m); err != nil {
						t.Fatalf("message is not a stack.Message: %v", err)
					}
					if m.Manifest != "s3://bucket/reel a+b.7z" || m.ManifestETag != "etag1" || len(m.Devices) > tc.perMsg {
						t.Errorf("message %s with %d devices", m.Manifest, len(m.Devices))
					}
					for _, d := range m.Devices {
						if d.ThingName != fmt.Sprintf("t%d", next) {
							t.Fatalf("device %s, want t%d: order or count lost", d.ThingName, next)
						}
						next++
					}
				}
				if len(batch) > MaxBatchEntries || total > tc.maxBytes {
					t.Errorf("batch of %d messages, %d bytes", len(batch), total)
				}
			}
			if next != tc.devices {
				t.Errorf("%d devices in the messages, want %d", next, tc.devices)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantBatches) {
				t.Errorf("batches of %v messages, want %v", got, tc.wantBatches)
			}
		})
	}
	t.Run("device larger than a message", func(t *testing.T) {
		b, _ := newBuilder("s3://b/k", "", "", 25, 1000)
		if _, err := b.add(dev(0, 2000)); !errors.Is(err, errDeviceTooLarge) {
			t.Fatalf("add: %v, want errDeviceTooLarge", err)
		}
		if got := b.flush(); len(got) != 0 {
			t.Fatalf("flush after a refused device: %d batches", len(got))
		}
	})
}

func TestSkipReason(t *testing.T) {
	h := &Handler{cfg: Config{SummaryPrefix: stack.DefaultSummaryPrefix}}
	tests := []struct {
		bucket string
		key    string
		skip   bool
	}{
		{bucket: "s-infineon", key: "reel.7z"},
		{bucket: "s-infineon", key: "in/reel a+b.XML"},
		{bucket: "s-infineon", key: "REEL.7Z"},
		{bucket: "s-infineon", key: "reel.zip", skip: true},
		{bucket: "s-infineon", key: "reel.7z.json", skip: true},
		{bucket: "s-infineon", key: stack.DefaultSummaryPrefix + "reel.7z", skip: true},
		{bucket: "s-infineon", key: "devices.csv", skip: true},
		{bucket: "s-microchip", key: "ECC608C-TNGTLSU-B.json"},
		{bucket: "s-microchip", key: "reel.7z", skip: true},
		// S3 notifies the provider of its own summaries in this bucket.
		{bucket: "s-microchip", key: stack.DefaultSummaryPrefix + "ECC608C-TNGTLSU-B.json.json", skip: true},
		{bucket: "s-espressif", key: "manifest-espressif.CSV"},
		{bucket: "s-espressif", key: stack.TrustAnchorsKey, skip: true},
		{bucket: "s-espressif", key: "trust/old.csv", skip: true},
		{bucket: "s-generated", key: "certificates_test.txt"},
		{bucket: "s-generated", key: "certificates.csv", skip: true},
		// Not the stack's: processed, and its summary says so.
		{bucket: "other", key: "x.bin"},
	}
	for _, tc := range tests {
		t.Run(tc.bucket+"/"+tc.key, func(t *testing.T) {
			if got := h.skipReason(tc.bucket, tc.key); (got != "") != tc.skip {
				t.Fatalf("skipReason(%q, %q) = %q, want skip %v", tc.bucket, tc.key, got, tc.skip)
			}
		})
	}
}
