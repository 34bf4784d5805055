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

// TestVendorThingName: a record's ThingName names the Thing instead of
// the CN, under the same rules, and two records naming one Thing clash.
func TestVendorThingName(t *testing.T) {
	p := newPKI(t)
	a := p.leaf(t, p.inter, generate.LeafOptions{Seed: "a"})
	b := p.leaf(t, p.inter, generate.LeafOptions{Seed: "b"})
	c := p.leaf(t, p.inter, generate.LeafOptions{Seed: "c"})
	named := func(chip, thing string, l *generate.Leaf) manifest.Record {
		r := rec(chip, generate.PEM(l.Cert))
		r.ThingName = thing
		return r
	}
	src := &manifesttest.Slice{Recs: []manifest.Record{
		named("A1", "0123ABCD", a),
		named("A2", "has space", b),
		named("A3", "0123ABCD", c),
	}}
	var got []*validate.Checked
	err := validate.Run(t.Context(), src, validate.Options{File: "m", Trust: p.store}, func(d *validate.Checked) error {
		got = append(got, d)
		return nil
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("Run = %v, %d devices", err, len(got))
	}
	if !got[0].OK() || got[0].ThingName != "0123ABCD" {
		t.Errorf("device 1: %q, %v; want thing 0123ABCD", got[0].ThingName, got[0].Err)
	}
	if !errors.Is(got[1].Err, validate.ErrThingName) || !strings.Contains(got[1].Err.Error(), `manifest's thing name "has space"`) {
		t.Errorf("device 2: %v, want the manifest's thing name refused", got[1].Err)
	}
	if !errors.Is(got[2].Err, validate.ErrDuplicateThingName) {
		t.Errorf("device 3: %v, want a duplicate thing name", got[2].Err)
	}
}
