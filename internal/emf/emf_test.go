package emf_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/emf"
)

func TestEmit(t *testing.T) {
	tests := []struct {
		name      string
		dims      map[string]string
		metrics   []emf.Metric
		wantDims  [][]string
		wantValue map[string]any
		wantErr   bool
		wantEmpty bool
	}{
		{
			name:      "manifest dimension",
			dims:      map[string]string{"Manifest": "reel a+b.7z"},
			metrics:   []emf.Metric{{Name: "DevicesValid", Value: 12}, {Name: "MessagesSent", Value: 1}},
			wantDims:  [][]string{{"Manifest"}},
			wantValue: map[string]any{"Manifest": "reel a+b.7z", "DevicesValid": 12.0, "MessagesSent": 1.0},
		},
		{
			name:      "no dimension",
			metrics:   []emf.Metric{{Name: "DevicesFailed", Value: 0}},
			wantDims:  [][]string{{}},
			wantValue: map[string]any{"DevicesFailed": 0.0},
		},
		{
			name:      "empty and long values",
			dims:      map[string]string{"A": "", "B": strings.Repeat("é", 2000)},
			metrics:   []emf.Metric{{Name: "X", Value: 1}},
			wantDims:  [][]string{{"A", "B"}},
			wantValue: map[string]any{"A": "-", "B": strings.Repeat("é", 1024)},
		},
		{
			name:    "metric named like a dimension",
			dims:    map[string]string{"Manifest": "m"},
			metrics: []emf.Metric{{Name: "Manifest", Value: 1}},
			wantErr: true,
		},
		{
			name:      "nothing to emit",
			dims:      map[string]string{"Manifest": "m"},
			wantEmpty: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := emf.New(&buf, "Thingpress")
			at := time.UnixMilli(1700000000123)
			l.SetClock(func() time.Time { return at })
			err := l.Emit(tc.dims, tc.metrics...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Emit: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr || tc.wantEmpty {
				if buf.Len() != 0 {
					t.Fatalf("wrote %q", buf.String())
				}
				return
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "\n") {
				t.Fatalf("want one line, got %q", buf.String())
			}
			var doc struct {
				AWS struct {
					Timestamp         int64
					CloudWatchMetrics []struct {
						Namespace  string
						Dimensions [][]string
						Metrics    []struct{ Name, Unit string }
					}
				} `json:"_aws"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.AWS.Timestamp != at.UnixMilli() || len(doc.AWS.CloudWatchMetrics) != 1 {
				t.Fatalf("metadata %+v", doc.AWS)
			}
			d := doc.AWS.CloudWatchMetrics[0]
			if d.Namespace != "Thingpress" {
				t.Errorf("namespace %q", d.Namespace)
			}
			if got, _ := json.Marshal(d.Dimensions); string(got) != string(must(json.Marshal(tc.wantDims))) {
				t.Errorf("dimensions %s, want %s", got, must(json.Marshal(tc.wantDims)))
			}
			if len(d.Metrics) != len(tc.metrics) {
				t.Errorf("metrics %+v", d.Metrics)
			}
			for _, m := range d.Metrics {
				if m.Unit != emf.Count {
					t.Errorf("metric %s unit %q", m.Name, m.Unit)
				}
			}
			var flat map[string]any
			if err := json.Unmarshal(buf.Bytes(), &flat); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.wantValue {
				if flat[k] != v {
					t.Errorf("member %s = %v, want %v", k, flat[k], v)
				}
			}
		})
	}
}

func TestNilLogger(t *testing.T) {
	var l *emf.Logger
	if err := l.Emit(nil, emf.Metric{Name: "X", Value: 1}); err != nil {
		t.Fatal(err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
