package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

func TestVendorAttributes(t *testing.T) {
	many := map[string]string{}
	for i := range 51 {
		many[strings.Repeat("a", i+1)] = "v"
	}
	tests := []struct {
		name    string
		attrs   map[string]string
		wantMsg string // empty: valid
	}{
		{name: "microchip", attrs: map[string]string{"partNumber": "ATECC608C-TNGTLSU-B", "groupId": "G", "provisioningTimestamp": "2025-06-01T20:09:48.145Z"}},
		{name: "espressif", attrs: map[string]string{"cn": "6d1d54ba-ed81-4c32-8e08-f9f8c885a6ed"}},
		{name: "bad value", attrs: map[string]string{"groupId": "a b"}, wantMsg: `groupId "a b"`},
		{name: "value too long", attrs: map[string]string{"x": strings.Repeat("v", 801)}, wantMsg: "x of 801 characters"},
		{name: "bad name", attrs: map[string]string{"a=b": "v"}, wantMsg: `name "a=b"`},
		{name: "empty name", attrs: map[string]string{"": "v"}, wantMsg: `name ""`},
		{name: "name too long", attrs: map[string]string{strings.Repeat("n", 129): "v"}, wantMsg: "must match"},
		{name: "reserved name", attrs: map[string]string{"chip_id": "v"}, wantMsg: "chip_id is set by thingpress"},
		{name: "too many", attrs: many, wantMsg: "51 attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Checked{Record: manifest.Record{ChipID: "0123", Attributes: tt.attrs}}
			err := checkAttributes(&d)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("checkAttributes() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAttribute) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("checkAttributes() = %v, want ErrAttribute with %q", err, tt.wantMsg)
			}
		})
	}
}
