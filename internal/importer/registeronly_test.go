package importer_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
)

// newImporterWith is newImporter at fastQuotas with cfg changed by mod.
func newImporterWith(t testing.TB, e *env, statePath string, tgt awsiot.Target, mod func(*importer.Config)) (*importer.Importer, *state.Store) {
	t.Helper()
	return newImporter(t, e, statePath, fastQuotas(), tgt, mod)
}

func TestRegisterOnly(t *testing.T) {
	for _, inactive := range []bool{false, true} {
		want := map[bool]types.CertificateStatus{false: types.CertificateStatusActive, true: types.CertificateStatusInactive}[inactive]
		t.Run(string(want), func(t *testing.T) {
			const n = 6
			e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
			f := newFleet(t, n)
			path := statePath(t)
			im, st := newImporterWith(t, e, path, awsiot.Target{}, func(c *importer.Config) { c.RegisterOnly, c.Inactive = true, inactive })
			results, err := run(t, t.Context(), im, f, 4)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			assertResults(t, results, "registered with an ARN", func(r importer.Result) bool { return r.Status != importer.Registered || r.CertificateARN == "" })
			if c := e.Proxy.Counts(); c["RegisterCertificateWithoutCA"] != n || e.Proxy.Total().Calls != n {
				t.Errorf("calls %v, want %d registrations and nothing else", c, n)
			}
			certs, err := e.Direct.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(certs.Certificates) != n {
				t.Errorf("%d certificates, want %d", len(certs.Certificates), n)
			}
			for _, c := range certs.Certificates {
				if c.Status != want {
					t.Errorf("certificate %s is %s, want %s", aws.ToString(c.CertificateId), c.Status, want)
				}
			}
			things, err := e.Direct.ListThings(t.Context(), &iot.ListThingsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(things.Things) != 0 {
				t.Errorf("register-only made %d things", len(things.Things))
			}

			t.Run("rerun makes no calls", func(t *testing.T) {
				e.Proxy.ResetStats()
				im, st := newImporterWith(t, e, path, awsiot.Target{}, func(c *importer.Config) { c.RegisterOnly, c.Inactive = true, inactive })
				results, err := run(t, t.Context(), im, f, 4)
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				assertResults(t, results, "registered and resumed", func(r importer.Result) bool { return r.Status != importer.Registered || !r.Resumed })
				if c := e.Proxy.Total().Calls; c != 0 {
					t.Errorf("%d calls, want 0", c)
				}
			})
			t.Run("a full import on the same state file goes on from the registration", func(t *testing.T) {
				e.Proxy.ResetStats()
				im, st := newImporterWith(t, e, path, target, func(*importer.Config) {})
				results, err := run(t, t.Context(), im, f, 4)
				if err != nil {
					t.Fatal(err)
				}
				assertResults(t, results, "imported", func(r importer.Result) bool { return r.Status != importer.Imported })
				// The steps left, and for an INACTIVE certificate one
				// UpdateCertificate, the last call.
				c := e.Proxy.Counts()
				wantActivate := map[bool]int64{false: 0, true: n}[inactive]
				if c["RegisterCertificateWithoutCA"] != 0 || c["UpdateCertificate"] != wantActivate {
					t.Errorf("calls %v, want no registration and %d UpdateCertificate", c, wantActivate)
				}
				perDevice := int64(len(importer.Steps(target))-1) + wantActivate/n
				if got := e.Proxy.Total().Calls; got != perDevice*n {
					t.Errorf("%d calls, want %d per device (%v)", got, perDevice, c)
				}
				assertComplete(t, e, f)
				certs, err := e.Direct.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range certs.Certificates {
					if c.Status != types.CertificateStatusActive {
						t.Errorf("certificate %s is %s after the import, want ACTIVE", aws.ToString(c.CertificateId), c.Status)
					}
				}
				err = st.ForEach(func(k string, d state.Progress) error {
					if got := d.Has(state.StepActivate); got != inactive || d.Status != string(importer.Imported) {
						t.Errorf("state of %s: %+v, want activate step %v and status imported", k, d, inactive)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}

				e.Proxy.ResetStats()
				results, err = run(t, t.Context(), im, f, 4)
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				assertResults(t, results, "imported and resumed (rerun)", func(r importer.Result) bool { return r.Status != importer.Imported || !r.Resumed })
				if got := e.Proxy.Total().Calls; got != 0 {
					t.Errorf("rerun made %d calls, want 0", got)
				}
			})
		})
	}
}

// TestRegisterOnlyLostAnswer: a register-only run whose registration
// reached AWS without its answer being recorded (a killed run) records
// the intent first, so the next run tells the conflict is its own.
func TestRegisterOnlyLostAnswer(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	f := newFleet(t, 1)
	path := statePath(t)
	// A first run registers; then its record is cut back to the intent
	// alone, as a run killed before recording the answer leaves it.
	im, st := newImporterWith(t, e, path, awsiot.Target{}, func(c *importer.Config) { c.RegisterOnly = true })
	var key string
	if _, err := run(t, t.Context(), im, f, 1); err != nil {
		t.Fatal(err)
	}
	err := st.ForEach(func(k string, d state.Progress) error {
		key = k
		if d.RegisterIntent.IsZero() {
			t.Errorf("no register intent recorded: %+v", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(key, func(d *state.Progress) error {
		d.Done, d.Status, d.CertificateID, d.CertificateARN = nil, "", "", ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	results, err := run(t, t.Context(), im, f, 1)
	if err != nil {
		t.Fatal(err)
	}
	assertResults(t, results, "registered (its own lost registration)", func(r importer.Result) bool { return r.Status != importer.Registered })
	if n := e.Proxy.Counts()["DescribeCertificate"]; n != 1 {
		t.Errorf("%d DescribeCertificate calls, want 1", n)
	}
}

func TestExclusiveAttach(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas(), StrictExclusive: true})
	f := newFleet(t, 3)
	im, _ := newImporterWith(t, e, statePath(t), target, func(c *importer.Config) { c.Exclusive = true })
	results, err := run(t, t.Context(), im, f, 2)
	if err != nil {
		t.Fatal(err)
	}
	assertResults(t, results, "imported", func(r importer.Result) bool { return r.Status != importer.Imported })
	assertComplete(t, e, f)
	// AWS now refuses the certificate for any other Thing.
	ctx := t.Context()
	for _, r := range results {
		other := "other-" + r.ChipID
		if _, err := e.Via.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(other)}); err != nil {
			t.Fatal(err)
		}
		_, err := e.Via.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(other), Principal: aws.String(r.CertificateARN)})
		if awsconf.Code(err) != "InvalidRequestException" {
			t.Errorf("attaching %s's certificate to a second thing: %v, want InvalidRequestException", r.ChipID, err)
		}
	}
}
