package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/pipeline"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

func TestRunInterruptResumes(t *testing.T) {
	const n = 30
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas(), Latency: 20e6})
	f := newFleet(t, n)
	path := statePath(t)
	im, st := newImporter(t, e, path, fastQuotas(), target)
	ctx, cancel := context.WithCancel(t.Context())
	var seen atomic.Int32
	err := pipeline.Run(ctx, im, f.source(), pipeline.Options{
		Validate: validate.Options{File: "test", Trust: f.store},
		Workers:  4,
		OnResult: func(importer.Result) {
			if seen.Add(1) == 5 {
				cancel()
			}
		},
	})
	if !errors.Is(err, importer.ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if got := int(seen.Load()); got >= n {
		t.Fatalf("interrupt came too late: %d devices done", got)
	}
	st.Close()
	first := e.Calls.Counts()
	e.Calls.Reset()

	im, _ = newImporter(t, e, path, fastQuotas(), target)
	results, err := run(t, t.Context(), im, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	assertComplete(t, e, f)
	// A clean interrupt finishes and records the calls in flight, so no
	// call of the first run is made again.
	for key := range e.Calls.Counts() {
		if first[key] > 0 {
			t.Errorf("%s repeated after resume", key)
		}
	}
}

func TestRunSkipsInvalid(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	f := newFleet(t, 2)
	l, err := generate.NewRoot("stranger")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := l.Issue(generate.LeafOptions{Seed: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.recs = append(f.recs, manifest.Record{Entry: "X_E0E0.pem", ChipID: "X", Data: generate.PEM(leaf.Cert)})
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
	results, err := run(t, t.Context(), im, f, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r := results["X"]; r.Status != importer.Skipped || !strings.Contains(r.Error, "does not chain") {
		t.Errorf("untrusted device: %+v", r)
	}
	if c := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; c != 2 {
		t.Errorf("%d registrations, want 2", c)
	}
}

// The helpers below are those of the importer's tests.

const (
	testPolicy = iottest.Policy
	testType   = iottest.ThingType
	testGroup  = iottest.Group
)

type env = iottest.Env

func newEnv(t testing.TB, cfg iotproxy.Config) *env { return iottest.New(t, cfg) }

var target = awsiot.Target{Policies: []string{testPolicy}, ThingType: testType, ThingGroups: []string{testGroup}}

// fastQuotas are AWS's quotas times ten, so tests finish quickly while
// still going through the limiter and the proxy's buckets.
func fastQuotas() map[string]float64 {
	q := ratelimit.DefaultQuotas()
	for k, v := range q {
		q[k] = v * 10
	}
	return q
}

func newImporter(t testing.TB, e *env, statePath string, quotas map[string]float64, tgt awsiot.Target) (*importer.Importer, *state.Store) {
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
	im := importer.New(importer.Config{
		API: e.Via, Target: tgt, Limits: limits, State: st,
		BackoffBase: 20 * 1e6, BackoffMax: 500 * 1e6,
	})
	return im, st
}

// fleet is a test CA and its devices.
type fleet struct {
	store *trust.Store
	recs  []manifest.Record
	names []string
}

func newFleet(t testing.TB, n int) *fleet {
	t.Helper()
	root, err := generate.NewRoot("Fleet Root")
	if err != nil {
		t.Fatal(err)
	}
	store, err := trust.FromPEM(generate.PEM(root.Cert))
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{store: store}
	for i := range n {
		l, err := root.Issue(generate.LeafOptions{Seed: fmt.Sprintf("%s-%d", t.Name(), i)})
		if err != nil {
			t.Fatal(err)
		}
		chip := fmt.Sprintf("0A091B5C00150007%04X", i)
		f.recs = append(f.recs, manifest.Record{
			Entry: chip + "_E0E0.pem", ChipID: chip, Slot: "E0E0", ReelID: "78211223032C7EFA",
			BatchID: "b41425b9-b42b-47fd-95c2-f981b4c61561", Data: generate.PEM(l.Cert),
		})
		f.names = append(f.names, l.Cert.Subject.CommonName)
	}
	return f
}

type sliceSource struct{ recs []manifest.Record }

func (s *sliceSource) Next() (manifest.Record, error) {
	if len(s.recs) == 0 {
		return manifest.Record{}, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}
func (s *sliceSource) Close() error { return nil }

func (f *fleet) source() manifest.Source {
	recs := make([]manifest.Record, len(f.recs))
	for i, r := range f.recs {
		r.Data = slices.Clone(r.Data)
		recs[i] = r
	}
	return &sliceSource{recs: recs}
}

// run imports the fleet and returns the results by chip ID.
func run(t testing.TB, ctx context.Context, im *importer.Importer, f *fleet, workers int) (map[string]importer.Result, error) {
	t.Helper()
	results := map[string]importer.Result{}
	err := pipeline.Run(ctx, im, f.source(), pipeline.Options{
		Validate: validate.Options{File: "test", Trust: f.store},
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

func assertComplete(t testing.TB, e *env, f *fleet) {
	t.Helper()
	var devs []iottest.Device
	for i, r := range f.recs {
		devs = append(devs, iottest.Device{ThingName: f.names[i], ChipID: r.ChipID, ReelID: r.ReelID})
	}
	e.AssertComplete(t, devs)
}

// statePath is a fresh state file path for t.
func statePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "import.state")
}
