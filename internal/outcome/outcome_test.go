package outcome

import (
	"maps"
	"reflect"
	"testing"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/validate"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		errs []error // one device each; nil is a valid one
		want Counts
	}{
		{name: "none", want: Counts{}},
		{name: "valid", errs: []error{nil, nil}, want: Counts{Total: 2, Valid: 2}},
		{
			name: "invalid by reason",
			errs: []error{nil, validate.ErrExpired, &manifest.Error{Err: validate.ErrExpired}, validate.ErrPrivateKey},
			want: Counts{Total: 4, Valid: 1, Invalid: 3, PrivateKeys: 1, Reasons: map[string]int{"expired": 2, "private key in entry": 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Counts
			for _, err := range tt.errs {
				c.Check(&validate.Checked{Err: err})
			}
			if !equal(c, tt.want) {
				t.Errorf("counts %+v, want %+v", c, tt.want)
			}
			if c.Done() != (tt.want.Invalid == 0) {
				t.Errorf("Done() = %v with %d invalid", c.Done(), c.Invalid)
			}
		})
	}
}

func TestImport(t *testing.T) {
	tests := []struct {
		name    string
		results []importer.Result
		want    Counts
		done    bool
	}{
		{name: "none", done: true},
		{
			name:    "imported, existing, resumed",
			results: []importer.Result{{Status: importer.Imported}, {Status: importer.Exists}, {Status: importer.Imported, Resumed: true}},
			want:    Counts{Total: 3, Imported: 2, Exists: 1, Resumed: 1},
			done:    true,
		},
		{
			name:    "skipped",
			results: []importer.Result{{Status: importer.Imported}, {Status: importer.Skipped}},
			want:    Counts{Total: 2, Imported: 1, Skipped: 1},
		},
		{
			name:    "failed, one half-made",
			results: []importer.Result{{Status: importer.Failed}, {Status: importer.Failed, Left: &importer.Leftover{Done: []string{"thing"}}}},
			want:    Counts{Total: 2, Failed: 2, LeftHalfMade: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Counts
			for _, r := range tt.results {
				c.Import(r)
			}
			if !equal(c, tt.want) {
				t.Errorf("counts %+v, want %+v", c, tt.want)
			}
			if c.Done() != tt.done {
				t.Errorf("Done() = %v, want %v", c.Done(), tt.done)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := Counts{Total: 2, Invalid: 1, Reasons: map[string]int{"expired": 1}, Imported: 1, Requeued: 3}
	b := Counts{Total: 3, Invalid: 2, Reasons: map[string]int{"expired": 1, "no CN": 1}, Failed: 1, LeftHalfMade: 1, Requeued: 1}
	var c Counts
	c.Merge(a)
	c.Merge(b)
	want := Counts{Total: 5, Invalid: 3, Reasons: map[string]int{"expired": 2, "no CN": 1}, Imported: 1, Failed: 1, LeftHalfMade: 1, Requeued: 4}
	if !equal(c, want) {
		t.Errorf("merged %+v, want %+v", c, want)
	}
	if a.Reasons["expired"] != 1 {
		t.Errorf("Merge changed its argument's reasons: %v", a.Reasons)
	}
}

func equal(a, b Counts) bool {
	if !maps.Equal(a.Reasons, b.Reasons) {
		return false
	}
	a.Reasons, b.Reasons = nil, nil
	return reflect.DeepEqual(a, b)
}
