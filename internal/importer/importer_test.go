package importer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
)

func TestImportComplete(t *testing.T) {
	const n = 40
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	f := newFleet(t, n)
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
	results, err := run(t, t.Context(), im, f, 16)
	if err != nil {
		t.Fatal(err)
	}
	assertResults(t, results, "imported with an ARN", func(r importer.Result) bool { return r.Status != importer.Imported || r.CertificateARN == "" })
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	assertComplete(t, e, f)
	total := e.Proxy.Total()
	if total.Calls != 5*n {
		t.Errorf("%d calls for %d devices, want exactly 5 per device: %v", total.Calls, n, e.Proxy.Counts())
	}
	for key, c := range e.Calls.Counts() {
		if c != 1 {
			t.Errorf("%s called %d times", key, c)
		}
	}
}

func TestImportRerun(t *testing.T) {
	const n = 12
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	f := newFleet(t, n)
	path := statePath(t)
	im, st := newImporter(t, e, path, fastQuotas(), target)
	if _, err := run(t, t.Context(), im, f, 8); err != nil {
		t.Fatal(err)
	}
	st.Close()

	t.Run("same state file: no calls", func(t *testing.T) {
		e.Proxy.ResetStats()
		im, _ := newImporter(t, e, path, fastQuotas(), target)
		results, err := run(t, t.Context(), im, f, 8)
		if err != nil {
			t.Fatal(err)
		}
		assertResults(t, results, "imported and resumed", func(r importer.Result) bool { return r.Status != importer.Imported || !r.Resumed })
		if c := e.Proxy.Total().Calls; c != 0 {
			t.Errorf("%d calls on a complete state file, want 0", c)
		}
	})
	t.Run("new state file: exists, nothing twice", func(t *testing.T) {
		e.Proxy.ResetStats()
		im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
		results, err := run(t, t.Context(), im, f, 8)
		if err != nil {
			t.Fatal(err)
		}
		assertResults(t, results, "exists", func(r importer.Result) bool {
			return r.Status != importer.Exists || r.CertificateARN == "" || r.Error != ""
		})
		assertComplete(t, e, f)
	})
}

func TestImportFaults(t *testing.T) {
	const n = 60
	e := newEnv(t, iotproxy.Config{
		Quotas:           fastQuotas(),
		ThrottleRate:     0.10,
		FaultRate:        0.02,
		DropRate:         0.01,
		DropAfterForward: 0.5,
		Seed:             7,
	})
	f := newFleet(t, n)
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
	results, err := run(t, t.Context(), im, f, 16)
	if err != nil {
		t.Fatal(err)
	}
	assertResults(t, results, "imported or exists", func(r importer.Result) bool { return r.Status != importer.Imported && r.Status != importer.Exists })
	if len(results) != n {
		t.Fatalf("%d results, want %d", len(results), n)
	}
	assertComplete(t, e, f)
	tot := e.Proxy.Total()
	if tot.Throttled == 0 || tot.Faults == 0 || tot.Dropped == 0 {
		t.Errorf("faults were not injected: %+v", tot)
	}
	if im.Throttled() == 0 || im.Retried() == 0 {
		t.Errorf("importer saw %d throttles, %d retries", im.Throttled(), im.Retried())
	}
}

func TestImportThingExistsWithOtherSettings(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas(), StrictCreateThing: true})
	f := newFleet(t, 3)
	// Somebody else already made a Thing with the second device's name.
	if _, err := e.Via.CreateThing(t.Context(), &iot.CreateThingInput{
		ThingName:        aws.String(f.Names[1]),
		AttributePayload: nil,
	}); err != nil {
		t.Fatal(err)
	}
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
	results, err := run(t, t.Context(), im, f, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range f.Recs {
		r := results[rec.ChipID]
		if i == 1 {
			if r.Status != importer.Failed || !strings.Contains(r.Error, "exists with other settings") || r.Left != nil || r.CertificateARN != "" {
				t.Errorf("conflicting device: %+v, want failed with nothing left", r)
			}
			continue
		}
		if r.Status != importer.Imported {
			t.Errorf("device %d: %+v", i, r)
		}
	}
	th, err := e.Direct.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String(f.Names[1])})
	if err != nil || th.ThingTypeName != nil {
		t.Errorf("existing thing was changed: %+v, %v", th, err)
	}
	// The name clash cost no certificate: the thing is made first.
	if n := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
	certs, err := e.Direct.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
	if err != nil || len(certs.Certificates) != 2 {
		t.Errorf("moto holds %v certificates (%v), want the 2 of the complete devices", certs, err)
	}
}

func TestImportPermanentErrorFailsDeviceNotRun(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	f := newFleet(t, 4)
	bad := target
	bad.ThingType = "no-such-type"
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), bad)
	results, err := run(t, t.Context(), im, f, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	assertResults(t, results, "failed at CreateThing: ResourceNotFoundException", func(r importer.Result) bool {
		return r.Status != importer.Failed || !strings.Contains(r.Error, "CreateThing: ResourceNotFoundException")
	})
	if c := e.Proxy.Counts()["CreateThing"]; c != 4 {
		t.Errorf("CreateThing called %d times, want 4 (a permanent error is not retried)", c)
	}
}

func TestPreflight(t *testing.T) {
	e := newEnv(t, iotproxy.Config{})
	tests := []struct {
		name    string
		target  awsiot.Target
		missing []string
	}{
		{name: "all present", target: target},
		{name: "all missing", target: awsiot.Target{Policies: []string{testPolicy, "nope"}, ThingType: "nope-type", ThingGroups: []string{"nope-group"}},
			missing: []string{`policy "nope"`, `thing type "nope-type"`, `thing group "nope-group"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awsiot.Preflight(t.Context(), e.Via, tt.target)
			if len(tt.missing) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, awsiot.ErrPreflight) {
				t.Fatalf("err = %v, want ErrPreflight", err)
			}
			for _, m := range tt.missing {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %s", err, m)
				}
			}
		})
	}
}

// TestPreflightRetryLayers counts the attempts of a preflight call that
// keeps failing transiently: the SDK's retryer, which Preflight turns on
// for its calls, makes all of them, through the importer's client whose
// own SDK retries are off.
func TestPreflightRetryLayers(t *testing.T) {
	tests := []struct {
		name string
		cfg  iotproxy.Config
	}{
		{name: "5xx", cfg: iotproxy.Config{FaultRate: 1, FaultOps: []string{"GetPolicy"}}},
		{name: "dropped connections", cfg: iotproxy.Config{DropRate: 1, FaultOps: []string{"GetPolicy"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			err := awsiot.Preflight(t.Context(), e.Via, target)
			if !errors.Is(err, awsiot.ErrPreflight) || !strings.Contains(err.Error(), testPolicy) {
				t.Fatalf("err = %v, want ErrPreflight naming policy %s", err, testPolicy)
			}
			if n := e.Proxy.Stats()["GetPolicy"].Calls; n != 8 {
				t.Errorf("%d GetPolicy attempts, want 8 (the SDK's, once)", n)
			}
			if n := e.Proxy.Total().Calls; n != 8 {
				t.Errorf("%d calls in all, want only the 8 of GetPolicy: %v", n, e.Proxy.Counts())
			}
		})
	}
}

// TestPreflightRetriesThrottling runs the preflight while half the calls
// are throttled: each throttled call is sent again until it gets through.
// The SDK's backoff makes each throttle cost up to seconds: seed 1
// throttles a few calls, enough to prove the retries, and no more.
func TestPreflightRetriesThrottling(t *testing.T) {
	e := newEnv(t, iotproxy.Config{ThrottleRate: 0.5, Seed: 1})
	if err := awsiot.Preflight(t.Context(), e.Via, target); err != nil {
		t.Fatalf("preflight under 50%% throttling: %v", err)
	}
	total := e.Proxy.Total()
	if total.Throttled == 0 {
		t.Fatal("no throttle was injected")
	}
	// GetPolicy, DescribeThingType, DescribeThingGroup, and one more
	// attempt for each throttled one.
	if total.Calls != 3+total.Throttled {
		t.Errorf("%d calls with %d throttled, want 3 plus one retry each: %v", total.Calls, total.Throttled, e.Proxy.Counts())
	}
}
