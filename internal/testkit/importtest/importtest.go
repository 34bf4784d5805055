package importtest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/pipeline"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// Target is iottest's policy, thing type and group.
var Target = awsiot.Target{Policies: []string{iottest.Policy}, ThingType: iottest.ThingType, ThingGroups: []string{iottest.Group}}

// FastQuotas are AWS's quotas times ten, so tests finish quickly while
// still going through the limiter and the proxy's buckets.
func FastQuotas() map[string]float64 {
	q := ratelimit.DefaultQuotas()
	for k, v := range q {
		q[k] = v * 10
	}
	return q
}

// NewImporter returns an importer on e with a state file at statePath,
// its Config changed by mods.
func NewImporter(t testing.TB, e *iottest.Env, statePath string, quotas map[string]float64, tgt awsiot.Target, mods ...func(*importer.Config)) (*importer.Importer, *state.Store) {
	t.Helper()
	st, err := state.Open(statePath, state.Meta{ManifestSHA256: strings.Repeat("ab", 32), Slot: "E0E0", Region: "us-east-1", Endpoint: e.Proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	limits, err := ratelimit.NewSet(quotas)
	if err != nil {
		t.Fatal(err)
	}
	cfg := importer.Config{
		API: e.Via, Target: tgt, Limits: limits, State: st,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	return importer.New(cfg), st
}

// Fleet is a test CA and its devices.
type Fleet struct {
	Store *trust.Store
	Recs  []manifest.Record
	Names []string
}

// NewFleet issues n devices under a fresh root.
func NewFleet(t testing.TB, n int) *Fleet {
	t.Helper()
	root, err := generate.NewRoot("Fleet Root")
	if err != nil {
		t.Fatal(err)
	}
	store, err := trust.FromPEM(generate.PEM(root.Cert))
	if err != nil {
		t.Fatal(err)
	}
	f := &Fleet{Store: store}
	for i := range n {
		l, err := root.Issue(generate.LeafOptions{Seed: fmt.Sprintf("%s-%d", t.Name(), i)})
		if err != nil {
			t.Fatal(err)
		}
		chip := fmt.Sprintf("0A091B5C00150007%04X", i)
		f.Recs = append(f.Recs, manifest.Record{
			Entry: chip + "_E0E0.pem", ChipID: chip, Slot: "E0E0", ReelID: "78211223032C7EFA",
			BatchID: "b41425b9-b42b-47fd-95c2-f981b4c61561", Data: generate.PEM(l.Cert),
		})
		f.Names = append(f.Names, l.Cert.Subject.CommonName)
	}
	return f
}

// Source yields copies of the fleet's records.
func (f *Fleet) Source() manifest.Source {
	recs := make([]manifest.Record, len(f.Recs))
	for i, r := range f.Recs {
		r.Data = slices.Clone(r.Data)
		recs[i] = r
	}
	return &manifesttest.Slice{Recs: recs}
}

// Run imports the fleet and returns the results by chip ID.
func Run(t testing.TB, ctx context.Context, im *importer.Importer, f *Fleet, workers int) (map[string]importer.Result, error) {
	t.Helper()
	results := map[string]importer.Result{}
	err := pipeline.Run(ctx, im, f.Source(), pipeline.Options{
		Validate: validate.Options{File: "test", Trust: f.Store},
		Workers:  workers,
		OnResult: func(r importer.Result) {
			if _, dup := results[r.ChipID]; dup {
				t.Errorf("device %s reported twice", r.ChipID)
			}
			results[r.ChipID] = r
		},
	})
	return results, err
}

// AssertComplete checks that every device of f is complete in e.
func AssertComplete(t testing.TB, e *iottest.Env, f *Fleet) {
	t.Helper()
	var devs []iottest.Device
	for i, r := range f.Recs {
		devs = append(devs, iottest.Device{ThingName: f.Names[i], ChipID: r.ChipID, ReelID: r.ReelID})
	}
	e.AssertComplete(t, devs)
}

// StatePath is a fresh state file path for t.
func StatePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "import.state")
}
