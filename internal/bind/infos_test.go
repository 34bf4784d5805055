package bind

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

const fp = "3b5d7c9e1f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"

func readAll(t testing.TB, text string, lim Limits) (string, []Entry, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(text), "infos.json", lim)
	if err != nil {
		return "", nil, err
	}
	var out []Entry
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.BatchID, out, nil
		}
		if err != nil {
			return rd.BatchID, out, err
		}
		out = append(out, e)
	}
}

func TestReader(t *testing.T) {
	small := Limits{MaxFileBytes: 4096, MaxValueBytes: 256, MaxDevices: 3}
	tests := []struct {
		name      string
		text      string
		lim       Limits
		wantBatch string
		// wantIDs are the devices' IDs; a "!" prefix marks an entry with a
		// Problem containing the rest.
		wantIDs []string
		wantErr error
		wantMsg string
	}{
		{name: "one device", text: `{"batchId":"B1","devices":[{"certFingerprint":"` + fp + `","deviceId":"d1","deviceType":"t","attributes":{"line":"L1"}}]}`,
			wantBatch: "B1", wantIDs: []string{"d1"}},
		{name: "batch after devices", text: `{"devices":[{"deviceId":"d1"},{"deviceId":"d2"}],"batchId":"B2"}`, wantBatch: "B2", wantIDs: []string{"d1", "d2"}},
		{name: "no batch", text: `{"devices":[]}`},
		{name: "wrong type in entry", text: `{"devices":[{"deviceId":5},{"deviceId":"d2","attributes":{"a":1}},{"deviceId":"d3"}]}`,
			wantIDs: []string{"!deviceId must not be a JSON number", "!attributes must not be a JSON number", "d3"}},
		{name: "unknown field in entry", text: `{"devices":[{"serial":"d1"},{"deviceId":"d2"}]}`, wantIDs: []string{`!unknown field "serial"`, "d2"}},
		// encoding/json alone would match field names regardless of case.
		{name: "field name case", text: `{"devices":[{"DEVICEID":"d1"},{"deviceId":"d2","DeviceType":"t"},{"deviceid":"d3"},{"deviceId":"d4"}]}`,
			wantIDs: []string{`!field "DEVICEID" must be spelled "deviceId"`, `!field "DeviceType" must be spelled "deviceType"`, `!field "deviceid" must be spelled "deviceId"`, "d4"}},
		// The long s folds to s: encoding/json alone would take "attributeſ".
		{name: "field name folding", text: `{"devices":[{"deviceId":"d1","attribute\u017f":{}},{"deviceId":"d2","attributes\u212a":1}]}`,
			wantIDs: []string{"!field \"attribute\u017f\" must be spelled \"attributes\"", "!unknown field \"attributes\u212a\""}},
		{name: "field twice in entry", text: `{"devices":[{"deviceId":"d1","deviceId":"d2"},{"deviceId":"d3"}]}`,
			wantIDs: []string{`!field "deviceId" appears twice`, "d3"}},
		{name: "entry an array", text: `{"devices":[[1],{"deviceId":"d2"}]}`, wantIDs: []string{"!the entry must not be a JSON array", "d2"}},
		{name: "entry a number", text: `{"devices":[7]}`, wantIDs: []string{"!the entry must not be a JSON number"}},
		{name: "entry not an object", text: `{"devices":["d1"]}`, wantIDs: []string{"!the entry must not be a JSON string"}},
		{name: "null entry", text: `{"devices":[null]}`, wantIDs: []string{""}},
		{name: "not json", text: `devices`, wantErr: ErrFormat},
		{name: "array", text: `[]`, wantErr: ErrFormat, wantMsg: "must be a JSON object"},
		{name: "no devices", text: `{"batchId":"B"}`, wantErr: ErrFormat, wantMsg: `no "devices" array`},
		{name: "devices not an array", text: `{"devices":{}}`, wantErr: ErrFormat, wantMsg: `"devices" must be an array`},
		{name: "unknown top-level field", text: `{"schema":1,"devices":[]}`, wantErr: ErrFormat, wantMsg: `unknown field "schema"`},
		{name: "twice", text: `{"devices":[],"devices":[]}`, wantErr: ErrFormat, wantMsg: `"devices" appears twice`},
		{name: "batch not a string", text: `{"batchId":7,"devices":[]}`, wantErr: ErrFormat},
		{name: "truncated", text: `{"devices":[{"deviceId":"d1"},{"dev`, wantIDs: []string{"d1"}, wantErr: ErrFormat, wantMsg: "ends too early"},
		{name: "trailing data", text: `{"devices":[]} {}`, wantErr: ErrFormat, wantMsg: "data after the closing }"},
		{name: "syntax error in entry", text: `{"devices":[{"deviceId":"d1",}]}`, wantErr: ErrFormat, wantMsg: "devices[0]"},
		{name: "too many devices", text: `{"devices":[{},{},{},{}]}`, lim: small, wantIDs: []string{"", "", ""}, wantErr: ErrTooLarge, wantMsg: "more than 3 devices"},
		{name: "entry too large", text: `{"devices":[{"deviceId":"` + strings.Repeat("x", 5000) + `"}]}`, lim: Limits{MaxFileBytes: 1 << 20, MaxValueBytes: 256, MaxDevices: 3},
			wantErr: ErrTooLarge, wantMsg: "devices[0]: device-infos file exceeds a size limit: a value of more than 256 bytes"},
		{name: "key too large", text: `{"` + strings.Repeat("k", 9000) + `":1}`, lim: Limits{MaxFileBytes: 1 << 20, MaxValueBytes: 256, MaxDevices: 3},
			wantErr: ErrTooLarge, wantMsg: "a value of more than 256 bytes"},
		{name: "file too large", text: `{"devices":[` + strings.Repeat(`{"deviceId":"d"},`, 300) + `{}]}`, lim: Limits{MaxFileBytes: 4096, MaxValueBytes: 256, MaxDevices: 1000},
			wantErr: ErrTooLarge, wantMsg: "more than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch, got, err := readAll(t, tt.text, tt.lim)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.wantMsg)
			case tt.wantErr != nil:
				var me *manifest.Error
				if !errors.As(err, &me) || me.File != "infos.json" {
					t.Errorf("error %v does not name the file", err)
				}
			}
			if batch != tt.wantBatch {
				t.Errorf("batch %q, want %q", batch, tt.wantBatch)
			}
			if tt.wantErr != nil && tt.wantIDs == nil {
				return
			}
			if len(got) != len(tt.wantIDs) {
				t.Fatalf("%d entries, want %d", len(got), len(tt.wantIDs))
			}
			for i, want := range tt.wantIDs {
				e := got[i]
				if e.Index != i {
					t.Errorf("entry %d has index %d", i, e.Index)
				}
				if msg, bad := strings.CutPrefix(want, "!"); bad {
					if !errors.Is(e.Problem, ErrEntry) || !strings.Contains(e.Problem.Error(), msg) {
						t.Errorf("entry %d problem %v, want %q", i, e.Problem, msg)
					}
				} else if e.Problem != nil || e.DeviceID != want {
					t.Errorf("entry %d: %+v, want device %q", i, e, want)
				}
			}
		})
	}
}

// FuzzReader feeds the device-infos reader arbitrary input: it must never
// panic, end in io.EOF or a *manifest.Error naming the file, and hold no
// entry over its value cap.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		`{"batchId":"B1","devices":[{"certFingerprint":"` + fp + `","deviceId":"d1","deviceType":"t","attributes":{"line":"L1"}}]}`,
		`{"devices":[{"deviceId":5},{"attributes":{"a":[1]}},null,"x",[]],"batchId":"B"}`,
		`{"devices":[{"deviceId":"d1",}]}`,
		`{"devices":[{"deviceId":"\u00e9\ud800"}]}`,
		`{"devices":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"devices":[]} trailing`,
		`{"batchId":"B","batchId":"C","devices":[]}`,
		`{"devices":[{"DEVICEID":"d1"},{"deviceId":"d2","DeviceType":"t"},{"deviceId":"a","deviceId":"b"},{"attributes\u212a":1}]}`,
		``, `{`, `[`, `null`,
	} {
		f.Add([]byte(seed))
	}
	lim := Limits{MaxFileBytes: 1 << 16, MaxValueBytes: 1024, MaxDevices: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		counting := &manifesttest.Counting{R: strings.NewReader(string(data))}
		rd, err := NewReader(counting, "f.json", lim)
		for err == nil {
			var e Entry
			e, err = rd.Next()
			if err == nil && e.Problem == nil && len(e.DeviceID)+len(e.CertFingerprint)+len(e.DeviceType) > int(lim.MaxValueBytes) {
				t.Fatalf("entry of more than the value cap: %d bytes", len(e.DeviceID))
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		var me *manifest.Error
		if !errors.As(err, &me) || me.File != "f.json" {
			t.Fatalf("error %v (%T) does not name the file", err, err)
		}
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v wraps neither ErrFormat nor ErrTooLarge", err)
		}
		if counting.N > lim.MaxFileBytes+1 {
			t.Fatalf("read %d bytes, cap %d", counting.N, lim.MaxFileBytes)
		}
	})
}
