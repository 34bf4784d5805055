package pipeline_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/awsiot"
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

// TestRunEndpointGoesDown: the endpoint stops taking connections part way
// through. The run stops within seconds as an interrupted one, with no
// device failed, and a run against the endpoint back up finishes the
// rest without repeating a call that reached it.
func TestRunEndpointGoesDown(t *testing.T) {
	const n = 30
	e := iottest.New(t, iotproxy.Config{Quotas: importtest.FastQuotas(), RefuseAfter: 40})
	f := importtest.NewFleet(t, n)
	path := importtest.StatePath(t)
	im, st := importtest.NewImporter(t, e, path, importtest.FastQuotas(), importtest.Target)
	started := time.Now()
	results, err := importtest.Run(t, t.Context(), im, f, 4)
	took := time.Since(started)
	if !errors.Is(err, importer.ErrInterrupted) || !errors.Is(im.Unreachable(), awsiot.ErrUnreachable) {
		t.Fatalf("err = %v, unreachable %v; want an interruption by ErrUnreachable", err, im.Unreachable())
	}
	if addr := strings.TrimPrefix(e.Proxy.URL(), "http://"); !strings.Contains(im.Unreachable().Error(), addr) {
		t.Errorf("%v does not name %s", im.Unreachable(), addr)
	}
	if took > 15*time.Second {
		t.Errorf("took %v to stop", took)
	}
	if len(results) == 0 || len(results) >= n {
		t.Errorf("%d devices done, want some but not all", len(results))
	}
	for chip, r := range results {
		if r.Status != importer.Imported {
			t.Errorf("%s: %s %q, want only imported devices reported", chip, r.Status, r.Error)
		}
	}
	st.Close()
	first := e.Calls.Counts()
	e.Calls.Reset()

	moto, err := url.Parse(e.Moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	back := iotproxy.New(moto, iotproxy.Config{Observe: e.Calls.Observe})
	if _, err := back.StartAt(strings.TrimPrefix(e.Proxy.URL(), "http://")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	im, _ = importtest.NewImporter(t, e, path, importtest.FastQuotas(), importtest.Target)
	rest, err := importtest.Run(t, t.Context(), im, f, 4)
	if err != nil {
		t.Fatal(err)
	}
	for chip, r := range rest {
		if r.Status != importer.Imported || r.Resumed != (results[chip].Status != "") {
			t.Errorf("%s after the endpoint came back: %+v", chip, r)
		}
	}
	if len(rest) != n {
		t.Errorf("%d results, want %d", len(rest), n)
	}
	importtest.AssertComplete(t, e, f)
	for key := range e.Calls.Counts() {
		if first[key] > 0 {
			t.Errorf("%s repeated after the endpoint came back", key)
		}
	}
}
