package bind_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/bind"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

var target = awsiot.Target{Policies: []string{iottest.Policy}, ThingGroups: []string{iottest.Group}}

// registered registers n certificates with status st directly in moto and
// returns their fingerprints.
func registered(t *testing.T, e *iottest.Env, n int, st types.CertificateStatus) []string {
	t.Helper()
	root, err := generate.NewRoot("Bind Root")
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for i := range n {
		l, err := root.Issue(generate.LeafOptions{Seed: fmt.Sprintf("%s-%s-%d", t.Name(), st, i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Direct.RegisterCertificateWithoutCA(t.Context(), &iot.RegisterCertificateWithoutCAInput{
			CertificatePem: aws.String(string(generate.PEM(l.Cert))), Status: st,
		}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(l.Cert.Raw)
		fps = append(fps, hex.EncodeToString(sum[:]))
	}
	return fps
}

type device struct {
	CertFingerprint string            `json:"certFingerprint"`
	DeviceID        string            `json:"deviceId"`
	DeviceType      string            `json:"deviceType,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

func infos(t *testing.T, devs []device) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"batchId": "B-1", "devices": devs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newBinder(t *testing.T, e *iottest.Env, path string, tgt awsiot.Target, exclusive bool) (*bind.Binder, *importer.Importer, *state.Store) {
	t.Helper()
	st, err := state.Open(path, state.Meta{ManifestSHA256: strings.Repeat("cd", 32), Slot: "bind", Region: "us-east-1", Endpoint: e.Proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := ratelimit.DefaultQuotas()
	for k := range q {
		q[k] *= 10
	}
	limits, err := ratelimit.NewSet(q)
	if err != nil {
		t.Fatal(err)
	}
	im := importer.New(importer.Config{API: e.Via, Target: tgt, Limits: limits, State: st, Exclusive: exclusive, BackoffBase: 20e6, BackoffMax: 500e6})
	return bind.New(bind.Config{Importer: im, API: e.Via, State: st, Target: tgt}), im, st
}

func runBind(t *testing.T, b *bind.Binder, text string) map[string]importer.Result {
	t.Helper()
	rd, err := bind.NewReader(strings.NewReader(text), "infos.json", bind.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]importer.Result{}
	err = b.Run(t.Context(), rd, bind.RunOptions{File: "infos.json", Workers: 4, OnResult: func(r importer.Result) {
		key := r.ThingName
		if r.Status == importer.Skipped && strings.Contains(r.Error, "duplicate") {
			key = "duplicate " + key
		}
		if _, dup := out[key]; dup {
			t.Errorf("%s reported twice", key)
		}
		out[key] = r
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBind(t *testing.T) {
	e := iottest.New(t, iotproxy.Config{StrictCreateThing: true, StrictAttributes: true})
	const n = 5
	inactive := registered(t, e, n, types.CertificateStatusInactive)
	active := registered(t, e, 1, types.CertificateStatusActive)
	revoked := registered(t, e, 1, types.CertificateStatusRevoked)
	noType := registered(t, e, 1, types.CertificateStatusInactive)
	var good []device
	var want []iottest.Device
	for i, fp := range append(inactive, active...) {
		id := fmt.Sprintf("dev-%02d", i)
		chip := fmt.Sprintf("CHIP%02d", i)
		fpText := fp
		if i == 0 {
			fpText = strings.ToUpper(fp) // fingerprints in either case
		}
		good = append(good, device{CertFingerprint: fpText, DeviceID: id, DeviceType: iottest.ThingType, Attributes: map[string]string{"chip_id": chip, "line": "L1"}})
		want = append(want, iottest.Device{ThingName: id, ChipID: chip})
	}
	bad := []device{
		{CertFingerprint: strings.Repeat("0", 64), DeviceID: "unknown-cert", DeviceType: iottest.ThingType},
		{CertFingerprint: revoked[0], DeviceID: "revoked", DeviceType: iottest.ThingType},
		{CertFingerprint: "abc", DeviceID: "short-fingerprint"},
		{CertFingerprint: inactive[0], DeviceID: "bad name"},
		{CertFingerprint: inactive[1], DeviceID: "bad-attr", DeviceType: iottest.ThingType, Attributes: map[string]string{"line": "L 1"}},
		{CertFingerprint: inactive[2], DeviceID: "four-attrs-no-type", Attributes: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}},
		{CertFingerprint: inactive[3], DeviceID: "dev-00", DeviceType: iottest.ThingType},
		{CertFingerprint: inactive[4], DeviceID: "dup-cert", DeviceType: iottest.ThingType},
		{CertFingerprint: noType[0], DeviceID: "no-such-type", DeviceType: "nope-type"},
	}
	wantBad := map[string]struct {
		status importer.Status
		reason string
	}{
		"unknown-cert":       {importer.Failed, "no certificate with this fingerprint is registered"},
		"revoked":            {importer.Failed, "certificate cannot be activated: it is REVOKED"},
		"short-fingerprint":  {importer.Skipped, "certFingerprint is not a hex SHA-256"},
		"bad name":           {importer.Skipped, "deviceId is not a valid AWS IoT thing name"},
		"bad-attr":           {importer.Skipped, `"line" "L 1" must match`},
		"four-attrs-no-type": {importer.Skipped, "4 attributes (a Thing without a thing type has at most 3)"},
		"duplicate dev-00":   {importer.Skipped, "duplicate deviceId: devices[0] has it too"},
		"duplicate dup-cert": {importer.Skipped, "duplicate certFingerprint: devices[4] has it too"},
		"no-such-type":       {importer.Failed, `thing type "nope-type": preflight failed: missing in AWS IoT: thing type "nope-type"`},
	}
	text := infos(t, append(good, bad...))
	path := filepath.Join(t.TempDir(), "bind.state")
	b, im, st := newBinder(t, e, path, target, false)
	got := runBind(t, b, text)
	for _, d := range good {
		if r := got[d.DeviceID]; r.Status != importer.Bound || r.Error != "" || r.CertificateARN == "" {
			t.Errorf("%s: %+v, want bound", d.DeviceID, r)
		}
	}
	for id, w := range wantBad {
		if r := got[id]; r.Status != w.status || !strings.Contains(r.Error, w.reason) {
			t.Errorf("%s: %s %q, want %s with %q", id, r.Status, r.Error, w.status, w.reason)
		}
	}
	if len(got) != len(good)+len(bad) {
		t.Errorf("%d results, want %d", len(got), len(good)+len(bad))
	}
	calls := im.Calls()
	wantCalls := map[string]int64{
		"DescribeCertificate": int64(len(good)) + 3, "CreateThing": int64(len(good)), "AttachThingPrincipal": int64(len(good)),
		"AttachPolicy": int64(len(good)), "AddThingToThingGroup": int64(len(good)), "UpdateCertificate": n,
	}
	for op, w := range wantCalls {
		if calls[op] != w {
			t.Errorf("%s: %d calls, want %d (all: %v)", op, calls[op], w, calls)
		}
	}
	if c := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; c != 0 {
		t.Errorf("bind registered %d certificates", c)
	}
	checkComplete(t, e, want, len(inactive)+len(active)+len(revoked)+len(noType))
	st.Close()

	t.Run("rerun makes no calls", func(t *testing.T) {
		e.Proxy.ResetStats()
		b, _, _ := newBinder(t, e, path, target, false)
		got := runBind(t, b, text)
		for _, d := range good {
			if r := got[d.DeviceID]; r.Status != importer.Bound || !r.Resumed {
				t.Errorf("%s: %+v, want bound and resumed", d.DeviceID, r)
			}
		}
		// The failed ones are tried again: unknown-cert and revoked ask
		// DescribeCertificate once more, no-such-type its thing type.
		if c := e.Proxy.Counts(); len(c) != 2 || c["DescribeCertificate"] != 2 || c["DescribeThingType"] != 1 {
			t.Errorf("calls on a rerun: %v, want DescribeCertificate 2, DescribeThingType 1", c)
		}
	})
}

// checkComplete checks in moto that each device is a complete Thing and
// that every certificate but the revoked one is ACTIVE.
func checkComplete(t *testing.T, e *iottest.Env, want []iottest.Device, certs int) {
	t.Helper()
	ctx := t.Context()
	things, err := e.Direct.ListThings(ctx, &iot.ListThingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(things.Things) != len(want) {
		t.Errorf("%d things, want %d", len(things.Things), len(want))
	}
	list, err := e.Direct.ListCertificates(ctx, &iot.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	activeN := 0
	for _, c := range list.Certificates {
		if c.Status == types.CertificateStatusActive {
			activeN++
		}
	}
	if len(list.Certificates) != certs || activeN != len(want) {
		t.Errorf("%d certificates, %d ACTIVE; want %d, %d ACTIVE", len(list.Certificates), activeN, certs, len(want))
	}
	for _, d := range want {
		th, err := e.Direct.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(d.ThingName)})
		if err != nil {
			t.Errorf("%s: %v", d.ThingName, err)
			continue
		}
		if aws.ToString(th.ThingTypeName) != iottest.ThingType || th.Attributes["chip_id"] != d.ChipID || th.Attributes["line"] != "L1" {
			t.Errorf("%s: type %q attributes %v", d.ThingName, aws.ToString(th.ThingTypeName), th.Attributes)
		}
		pr, err := e.Direct.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(d.ThingName)})
		if err != nil || len(pr.Principals) != 1 {
			t.Errorf("%s: principals %v %v", d.ThingName, pr, err)
			continue
		}
		pol, err := e.Direct.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(pr.Principals[0])})
		if err != nil || len(pol.Policies) != 1 {
			t.Errorf("%s: policies %v %v", d.ThingName, pol, err)
		}
	}
}

func TestBindExclusive(t *testing.T) {
	e := iottest.New(t, iotproxy.Config{StrictExclusive: true})
	fps := registered(t, e, 2, types.CertificateStatusInactive)
	text := infos(t, []device{
		{CertFingerprint: fps[0], DeviceID: "excl-0", DeviceType: iottest.ThingType},
		{CertFingerprint: fps[1], DeviceID: "excl-1", DeviceType: iottest.ThingType},
	})
	b, _, _ := newBinder(t, e, filepath.Join(t.TempDir(), "s"), target, true)
	got := runBind(t, b, text)
	for id, r := range got {
		if r.Status != importer.Bound {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	// The same certificate for a second deviceId: AWS refuses it.
	text = infos(t, []device{{CertFingerprint: fps[0], DeviceID: "excl-other", DeviceType: iottest.ThingType}})
	b, _, _ = newBinder(t, e, filepath.Join(t.TempDir(), "s2"), target, true)
	got = runBind(t, b, text)
	r := got["excl-other"]
	if r.Status != importer.Failed || !strings.Contains(r.Error, "AttachThingPrincipal: InvalidRequestException") || r.Left == nil {
		t.Errorf("second thing for an exclusive certificate: %+v, want failed by AttachThingPrincipal, half-made", r)
	}
}

// TestBindFaults binds through a proxy that throttles, answers 5xx and
// drops connections before and after forwarding: every device must end
// complete, each exactly once.
func TestBindFaults(t *testing.T) {
	q := ratelimit.DefaultQuotas()
	for k := range q {
		q[k] *= 3
	}
	e := iottest.New(t, iotproxy.Config{Quotas: q, FaultRate: 0.15, DropRate: 0.1, DropAfterForward: 0.5, Seed: 7, StrictCreateThing: true})
	const n = 12
	fps := registered(t, e, n, types.CertificateStatusInactive)
	var devs []device
	var want []iottest.Device
	for i, fp := range fps {
		id, chip := fmt.Sprintf("f-%02d", i), fmt.Sprintf("C%02d", i)
		devs = append(devs, device{CertFingerprint: fp, DeviceID: id, DeviceType: iottest.ThingType, Attributes: map[string]string{"chip_id": chip, "line": "L1"}})
		want = append(want, iottest.Device{ThingName: id, ChipID: chip})
	}
	b, im, _ := newBinder(t, e, filepath.Join(t.TempDir(), "s"), target, false)
	got := runBind(t, b, infos(t, devs))
	for _, d := range devs {
		if r := got[d.DeviceID]; r.Status != importer.Bound {
			t.Errorf("%s: %+v", d.DeviceID, r)
		}
	}
	if im.Retried() == 0 {
		t.Errorf("no call was retried: the faults did not happen")
	}
	checkComplete(t, e, want, n)
	t.Logf("retried %d, throttled %d, calls %v", im.Retried(), im.Throttled(), im.Calls())
}

// TestBindUnreachable: the endpoint goes down before the first lookup of a
// certificate. The run must stop as interrupted (the breaker's
// ErrUnreachable), with no device reported failed for it.
func TestBindUnreachable(t *testing.T) {
	e := iottest.New(t, iotproxy.Config{})
	fps := registered(t, e, 3, types.CertificateStatusInactive)
	var devs []device
	for i, fp := range fps {
		devs = append(devs, device{CertFingerprint: fp, DeviceID: fmt.Sprintf("u-%02d", i), DeviceType: iottest.ThingType})
	}
	b, im, _ := newBinder(t, e, filepath.Join(t.TempDir(), "s"), target, false)
	e.Proxy.Refuse()
	rd, err := bind.NewReader(strings.NewReader(infos(t, devs)), "infos.json", bind.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(t.Context(), rd, bind.RunOptions{File: "infos.json", Workers: 2, OnResult: func(r importer.Result) {
		t.Errorf("%s reported %s: %s, want it left for the next run", r.ThingName, r.Status, r.Error)
	}})
	if !errors.Is(err, importer.ErrInterrupted) || !errors.Is(im.Unreachable(), awsiot.ErrUnreachable) {
		t.Fatalf("Run = %v, breaker %v: want an interruption by ErrUnreachable", err, im.Unreachable())
	}
}

// TestBindTypeCheckNotCached: a thing type check that fails on the way
// (every DescribeThingType a 5xx) fails that device only; once AWS answers,
// the next device of the type is bound.
func TestBindTypeCheckNotCached(t *testing.T) {
	e := iottest.New(t, iotproxy.Config{})
	fps := registered(t, e, 2, types.CertificateStatusInactive)
	b, _, _ := newBinder(t, e, filepath.Join(t.TempDir(), "s"), target, false)
	dev := func(i int) string {
		return infos(t, []device{{CertFingerprint: fps[i], DeviceID: fmt.Sprintf("t-%02d", i), DeviceType: iottest.ThingType}})
	}
	e.Proxy.SetConfig(iotproxy.Config{FaultRate: 1, FaultOps: []string{"DescribeThingType"}})
	if r := runBind(t, b, dev(0))["t-00"]; r.Status != importer.Failed || !strings.Contains(r.Error, iottest.ThingType) {
		t.Fatalf("with DescribeThingType failing: %+v, want failed naming the type", r)
	}
	e.Proxy.SetConfig(iotproxy.Config{})
	if r := runBind(t, b, dev(1))["t-01"]; r.Status != importer.Bound {
		t.Fatalf("with AWS answering again: %+v, want bound", r)
	}
}
