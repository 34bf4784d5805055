package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/pipeline"
	"github.com/thingpress/thingpress/internal/testkit/importtest"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/validate"
)

func TestRunInterruptResumes(t *testing.T) {
	const n = 30
	e := iottest.New(t, iotproxy.Config{Quotas: importtest.FastQuotas(), Latency: 20e6})
	f := importtest.NewFleet(t, n)
	path := importtest.StatePath(t)
	im, st := importtest.NewImporter(t, e, path, importtest.FastQuotas(), importtest.Target)
	ctx, cancel := context.WithCancel(t.Context())
	var seen atomic.Int32
	err := pipeline.Run(ctx, im, f.Source(), pipeline.Options{
		Validate: validate.Options{File: "test", Trust: f.Store},
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

	im, _ = importtest.NewImporter(t, e, path, importtest.FastQuotas(), importtest.Target)
	results, err := importtest.Run(t, t.Context(), im, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	importtest.AssertComplete(t, e, f)
	// A clean interrupt finishes and records the calls in flight, so no
	// call of the first run is made again.
	for key := range e.Calls.Counts() {
		if first[key] > 0 {
			t.Errorf("%s repeated after resume", key)
		}
	}
}

func TestRunSkipsInvalid(t *testing.T) {
	e := iottest.New(t, iotproxy.Config{Quotas: importtest.FastQuotas()})
	f := importtest.NewFleet(t, 2)
	l, err := generate.NewRoot("stranger")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := l.Issue(generate.LeafOptions{Seed: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.Recs = append(f.Recs, manifest.Record{Entry: "X_E0E0.pem", ChipID: "X", Data: generate.PEM(leaf.Cert)})
	im, _ := importtest.NewImporter(t, e, importtest.StatePath(t), importtest.FastQuotas(), importtest.Target)
	results, err := importtest.Run(t, t.Context(), im, f, 2)
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
