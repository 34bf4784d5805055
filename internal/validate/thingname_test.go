package validate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/validate"
)

func TestParseNameTemplate(t *testing.T) {
	tests := []struct {
		name     string
		template string
		wantErr  string // empty: parses
	}{
		{name: "cn", template: "{cn}"},
		{name: "fields and literals", template: "tp-{vendor}_{reel_id}:{chip_id}-{slot}-{batch_id}"},
		{name: "literal only", template: "fixed"},
		{name: "unknown field", template: "{serial}", wantErr: "unknown field {serial} (want one of {batch_id}, {chip_id}, {cn}, {reel_id}, {slot}, {vendor})"},
		{name: "case matters", template: "{CN}", wantErr: "unknown field {CN}"},
		{name: "open brace", template: "a-{cn", wantErr: "a { without its }"},
		{name: "close brace", template: "a}-{cn}", wantErr: "a } without its {"},
		{name: "nested", template: "{{cn}}", wantErr: "unknown field {{cn}"},
		{name: "space in literal", template: "my thing {cn}", wantErr: `literal text "my thing "`},
		{name: "slash in literal", template: "{reel_id}/{chip_id}", wantErr: `literal text "/"`},
		{name: "empty", template: "", wantErr: "empty"},
		{name: "empty field", template: "{}", wantErr: "unknown field {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := validate.ParseNameTemplate(tt.template)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate.ParseNameTemplate(%q): %v", tt.template, err)
			case tt.wantErr == "":
				if tmpl.String() != tt.template {
					t.Errorf("String() = %q", tmpl.String())
				}
			case err == nil || !errors.Is(err, validate.ErrNameTemplate) || !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("validate.ParseNameTemplate(%q) = %v, want validate.ErrNameTemplate with %q", tt.template, err, tt.wantErr)
			}
		})
	}
}

func TestThingNameTemplate(t *testing.T) {
	p := newPKI(t)
	a := p.leaf(t, p.inter, generate.LeafOptions{Seed: "a"})
	b := p.leaf(t, p.inter, generate.LeafOptions{Seed: "b"})
	withReel := func(r manifest.Record, reel string) manifest.Record {
		r.ReelID, r.Vendor = reel, manifest.VendorGenerated
		return r
	}
	recs := func() []manifest.Record {
		return []manifest.Record{
			withReel(rec("A1", generate.PEM(a.Cert)), "R1"),
			withReel(rec("A2", generate.PEM(b.Cert)), "R1"),
		}
	}
	tests := []struct {
		name     string
		template string
		records  []manifest.Record
		want     []string // names; "" where the device is invalid
		wantErr  []error
		// wantCheck is the cause validate.CheckNames fails with, or nil.
		wantCheck error
		wantMsg   string
	}{
		{name: "cn", template: "{cn}", records: recs(), want: []string{a.Cert.Subject.CommonName, b.Cert.Subject.CommonName}, wantErr: []error{nil, nil}},
		{name: "fields", template: "{vendor}-{reel_id}-{chip_id}-{slot}", records: recs(),
			want: []string{"generated-R1-A1-E0E0", "generated-R1-A2-E0E0"}, wantErr: []error{nil, nil}},
		{name: "duplicate", template: "reel-{reel_id}", records: recs(), want: []string{"reel-R1", "reel-R1"},
			wantErr: []error{nil, validate.ErrDuplicateThingName}, wantCheck: validate.ErrNames, wantMsg: "duplicate thing name: reel-R1 already named by entry #1"},
		{name: "empty field", template: "{batch_id}-{chip_id}", records: recs(), want: []string{"", ""},
			wantErr: []error{validate.ErrThingName, validate.ErrThingName}, wantCheck: validate.ErrNames, wantMsg: `2 devices, nothing imported: m: A1_E0E0.pem: device A1: the template "{batch_id}-{chip_id}" gives no thing name: this device has no batch_id`},
		{name: "too long", template: "{cn}" + strings.Repeat("x", 128), records: recs(), want: []string{"", ""},
			wantErr: []error{validate.ErrThingName, validate.ErrThingName}, wantCheck: validate.ErrNames, wantMsg: "is not a valid AWS IoT thing name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := validate.ParseNameTemplate(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			opts := validate.Options{File: "m", Trust: p.store, ThingName: tmpl}
			var got []string
			var gotErr []error
			if err := validate.Run(t.Context(), &manifesttest.Slice{Recs: tt.records}, opts, func(d *validate.Checked) error {
				got = append(got, d.ThingName)
				gotErr = append(gotErr, d.Err)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if tt.want[i] != "" && got[i] != tt.want[i] || tt.wantErr[i] == nil && gotErr[i] != nil || tt.wantErr[i] != nil && !errors.Is(gotErr[i], tt.wantErr[i]) {
					t.Errorf("device %d: name %q err %v, want %q %v", i, got[i], gotErr[i], tt.want[i], tt.wantErr[i])
				}
			}
			err = validate.CheckNames(t.Context(), &manifesttest.Slice{Recs: tt.records}, opts)
			switch {
			case tt.wantCheck == nil && err != nil:
				t.Errorf("validate.CheckNames: %v", err)
			case tt.wantCheck != nil && (!errors.Is(err, tt.wantCheck) || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Errorf("validate.CheckNames: %v, want %v with %q", err, tt.wantCheck, tt.wantMsg)
			}
		})
	}
}

func TestCheckThingAttributes(t *testing.T) {
	many := map[string]string{}
	for _, k := range strings.Split("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "") {
		many[k] = "v"
	}
	tests := []struct {
		name      string
		attrs     map[string]string
		thingType bool
		wantErr   string
	}{
		{name: "none", attrs: nil},
		{name: "ok", attrs: map[string]string{"line": "L1", "fw": "1.2.3", "mac": "a0:b1"}},
		{name: "four without type", attrs: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, wantErr: "4 attributes (a Thing without a thing type has at most 3)"},
		{name: "four with type", attrs: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, thingType: true},
		{name: "52 with type", attrs: many, thingType: true, wantErr: "52 attributes (a Thing has at most 50)"},
		{name: "space in value", attrs: map[string]string{"line": "L 1"}, wantErr: `"line" "L 1" must match`},
		{name: "equals in name", attrs: map[string]string{"a=b": "1"}, wantErr: `name "a=b" must match`},
		{name: "empty name", attrs: map[string]string{"": "1"}, wantErr: `name "" must match`},
		{name: "long value", attrs: map[string]string{"a": strings.Repeat("x", 801)}, wantErr: "801 characters (at most 800)"},
		{name: "empty value", attrs: map[string]string{"a": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.CheckThingAttributes(tt.attrs, tt.thingType)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v", err)
			case tt.wantErr != "" && (!errors.Is(err, validate.ErrAttribute) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want validate.ErrAttribute with %q", err, tt.wantErr)
			}
		})
	}
}
