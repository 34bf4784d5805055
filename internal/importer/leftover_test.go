package importer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// device is one device in the importer's form, for tests that call
// Import directly.
func device(t *testing.T, root *generate.CA, seed, chipID string) importer.Device {
	t.Helper()
	l, err := root.Issue(generate.LeafOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(l.Cert.Raw)
	return importer.Device{
		CertificateID: hex.EncodeToString(sum[:]), ChipID: chipID, ReelID: "78211223032C7EFA",
		ThingName: l.Cert.Subject.CommonName, CertificatePEM: string(generate.PEM(l.Cert)),
	}
}

func newRoot(t *testing.T) *generate.CA {
	t.Helper()
	root, err := generate.NewRoot("Leftover Root")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func certificates(t *testing.T, e *env) []types.Certificate {
	t.Helper()
	out, err := e.Direct.ListCertificates(t.Context(), &iot.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Certificates
}

// TestImportRefusedAttributeRegistersNothing: CreateThing comes first,
// so a device whose attribute AWS refuses leaves no certificate behind.
func TestImportRefusedAttributeRegistersNothing(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas(), StrictAttributes: true})
	root := newRoot(t)
	good := device(t, root, t.Name()+"-good", "0A091B5C001500070001")
	bad := device(t, root, t.Name()+"-bad", "0A091B5C 00150007") // a space AWS refuses
	im, _ := newImporter(t, e, statePath(t), fastQuotas(), target)
	for _, d := range []*importer.Device{&good, &bad} {
		res, err := im.Import(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		if d == &good {
			if res.Status != importer.Imported {
				t.Errorf("good device: %+v", res)
			}
			continue
		}
		if res.Status != importer.Failed || !strings.Contains(res.Error, "CreateThing: InvalidRequestException") || res.Left != nil {
			t.Errorf("device with a refused attribute: %+v, want failed with nothing left", res)
		}
	}
	certs := certificates(t, e)
	if len(certs) != 1 || aws.ToString(certs[0].CertificateId) != good.CertificateID {
		t.Errorf("moto holds certificates %v, want only the good device's %s", certs, good.CertificateID)
	}
	if n := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
	if n := e.Proxy.Stats()["CreateThing"].Invalid; n != 1 {
		t.Errorf("proxy refused %d CreateThing calls, want 1", n)
	}
}

// TestImportLeftover: a device that fails after some steps names what it
// left in AWS, and a later run with the same state file finishes it.
func TestImportLeftover(t *testing.T) {
	tests := []struct {
		name      string
		proxy     iotproxy.Config
		target    awsiot.Target
		wantErr   string
		retryable bool
		want      importer.Leftover // without the certificate's ID and ARN
	}{
		{
			name:    "group gone after register",
			target:  awsiot.Target{Policies: []string{testPolicy}, ThingType: testType, ThingGroups: []string{"tp-gone"}},
			wantErr: "AddThingToThingGroup: ResourceNotFoundException",
			want: importer.Leftover{
				CertificateStatus: "ACTIVE", Thing: "set", ThingCreated: "this run",
				Done:    []string{state.StepThing, state.StepRegister, state.StepPrincipal, state.PolicyStep(testPolicy)},
				Missing: []string{state.GroupStep("tp-gone")},
			},
		},
		{
			name:      "register keeps failing after the thing",
			proxy:     iotproxy.Config{FaultRate: 1, FaultOps: []string{"RegisterCertificateWithoutCA"}},
			target:    target,
			wantErr:   "RegisterCertificateWithoutCA",
			retryable: true,
			want: importer.Leftover{
				Thing: "set", ThingCreated: "this run",
				Done:    []string{state.StepThing},
				Missing: []string{state.StepRegister, state.StepPrincipal, state.PolicyStep(testPolicy), state.GroupStep(testGroup)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.proxy.Quotas = fastQuotas()
			e := newEnv(t, tt.proxy)
			d := device(t, newRoot(t), t.Name(), "0A091B5C001500070001")
			path := statePath(t)
			im, st := newImporter(t, e, path, fastQuotas(), tt.target)
			res, err := im.Import(t.Context(), &d)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != importer.Failed || !strings.Contains(res.Error, tt.wantErr) || res.Retryable != tt.retryable || res.Left == nil {
				t.Fatalf("result %+v, want failed with %q and something left", res, tt.wantErr)
			}
			l := *res.Left
			want := tt.want
			want.Thing = d.ThingName
			if want.CertificateStatus != "" {
				want.CertificateID, want.CertificateARN = res.CertificateID, res.CertificateARN
				if !strings.HasSuffix(l.CertificateARN, "cert/"+d.CertificateID) {
					t.Errorf("certificate ARN %q does not name %s", l.CertificateARN, d.CertificateID)
				}
			}
			if l.CertificateID != want.CertificateID || l.CertificateARN != want.CertificateARN || l.CertificateStatus != want.CertificateStatus ||
				l.CertificateExisted || l.Thing != want.Thing || l.ThingCreated != want.ThingCreated ||
				!slices.Equal(l.Done, want.Done) || !slices.Equal(l.Missing, want.Missing) {
				t.Errorf("left %+v\nwant %+v", l, want)
			}
			// What moto holds is what the result says.
			certs := certificates(t, e)
			if want.CertificateStatus == "" && len(certs) != 0 ||
				want.CertificateStatus != "" && (len(certs) != 1 || aws.ToString(certs[0].CertificateArn) != l.CertificateARN || certs[0].Status != types.CertificateStatusActive) {
				t.Errorf("moto holds certificates %+v", certs)
			}
			if _, err := e.Direct.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String(d.ThingName)}); err != nil {
				t.Errorf("thing: %v", err)
			}

			t.Run("a later run finishes it", func(t *testing.T) {
				st.Close()
				e.Proxy.SetConfig(iotproxy.Config{Quotas: fastQuotas(), Observe: e.Calls.Observe})
				e.Proxy.ResetStats()
				if _, err := e.Direct.CreateThingGroup(t.Context(), &iot.CreateThingGroupInput{ThingGroupName: aws.String("tp-gone")}); err != nil {
					t.Fatal(err)
				}
				im, _ := newImporter(t, e, path, fastQuotas(), tt.target)
				res, err := im.Import(t.Context(), &d)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != importer.Imported || res.Left != nil {
					t.Errorf("rerun: %+v, want imported", res)
				}
				if n := e.Proxy.Counts()["DescribeCertificate"]; n != 0 {
					t.Errorf("%d DescribeCertificate calls, want none: the registration was never lost", n)
				}
			})
		})
	}
}

// TestImportStatusAfterLostRegistration: a certificate that a killed run
// registered without recording it is imported, not exists; one that was
// registered before the import is exists.
func TestImportStatusAfterLostRegistration(t *testing.T) {
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas()})
	root := newRoot(t)
	ours := device(t, root, t.Name()+"-ours", "0A091B5C001500070001")
	theirs := device(t, root, t.Name()+"-theirs", "0A091B5C001500070002")
	fresh := device(t, root, t.Name()+"-fresh", "0A091B5C001500070003")
	path := statePath(t)
	_, st := newImporter(t, e, path, fastQuotas(), target)
	ctx := t.Context()
	register := func(d importer.Device) {
		t.Helper()
		if _, err := e.Direct.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
			CertificatePem: aws.String(d.CertificatePEM), Status: types.CertificateStatusActive,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// As a killed run leaves them: the thing made and recorded with the
	// intent to register, the register call sent, its answer lost.
	killedRun := func(d importer.Device, intent time.Time) {
		t.Helper()
		if _, err := e.Direct.CreateThing(ctx, &iot.CreateThingInput{
			ThingName: aws.String(d.ThingName), ThingTypeName: aws.String(testType),
			AttributePayload: &types.AttributePayload{Attributes: d.AttributesFor(false)},
		}); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(d.CertificateID, func(s *state.Progress) error {
			s.MarkDone(state.StepThing)
			s.RegisterIntent = intent
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	killedRun(ours, time.Now().UTC())
	register(ours)
	// Registered by somebody else long (more than the clock skew AWS
	// allows) before the intent.
	register(theirs)
	killedRun(theirs, time.Now().UTC().Add(2*importer.ClockSkew))
	// Registered before, and nothing recorded.
	register(fresh)
	st.Close()

	im, st := newImporter(t, e, path, fastQuotas(), target)
	want := map[string]importer.Status{ours.ChipID: importer.Imported, theirs.ChipID: importer.Exists, fresh.ChipID: importer.Exists}
	for _, d := range []*importer.Device{&ours, &theirs, &fresh} {
		res, err := im.Import(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != want[d.ChipID] || res.Error != "" {
			t.Errorf("%s: %+v, want %s", d.ChipID, res, want[d.ChipID])
		}
		rec, _, err := st.Get(d.CertificateID)
		if err != nil || rec.Status != string(want[d.ChipID]) {
			t.Errorf("%s: state %+v %v, want status %s", d.ChipID, rec, err, want[d.ChipID])
		}
	}
	// One DescribeCertificate for each device with an intent from before.
	if n := e.Proxy.Counts()["DescribeCertificate"]; n != 2 {
		t.Errorf("%d DescribeCertificate calls, want 2", n)
	}
	e.AssertComplete(t, []iottest.Device{
		{ThingName: ours.ThingName, ChipID: ours.ChipID, ReelID: ours.ReelID},
		{ThingName: theirs.ThingName, ChipID: theirs.ChipID, ReelID: theirs.ReelID},
		{ThingName: fresh.ThingName, ChipID: fresh.ChipID, ReelID: fresh.ReelID},
	})
}

// TestImportRecordsIntentBeforeRegister: when a register call reaches
// AWS, the state file already holds the device's thing step and the
// intent to register, so a run killed during the call can tell the
// certificate is its own.
func TestImportRecordsIntentBeforeRegister(t *testing.T) {
	var mu sync.Mutex
	var st *state.Store
	var seen int
	e := newEnv(t, iotproxy.Config{Quotas: fastQuotas(), Observe: func(op string, r *http.Request, body []byte) {
		if op != "RegisterCertificateWithoutCA" {
			return
		}
		var in struct{ CertificatePem string }
		if err := json.Unmarshal(body, &in); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		rec, ok, err := st.Get(iotproxy.CertificateKey(in.CertificatePem))
		if err != nil || !ok || !rec.Has(state.StepThing) || rec.RegisterIntent.IsZero() || rec.RegisterIntent.After(time.Now()) {
			t.Errorf("register call sent while the state holds %+v (found %v, %v)", rec, ok, err)
		}
	}})
	f := newFleet(t, 6)
	mu.Lock()
	im, s := newImporter(t, e, statePath(t), fastQuotas(), target)
	st = s
	mu.Unlock()
	if _, err := run(t, t.Context(), im, f, 3); err != nil {
		t.Fatal(err)
	}
	if seen != 6 {
		t.Errorf("%d register calls seen, want 6", seen)
	}
	assertComplete(t, e, f)
}
