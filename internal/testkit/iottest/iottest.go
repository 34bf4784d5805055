package iottest

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// Names of the resources every Env has.
const (
	Policy    = "tp-policy"
	ThingType = "tp-type"
	Group     = "tp-group"
)

// Env is moto behind the proxy.
type Env struct {
	Moto  *motoserver.Server
	Proxy *iotproxy.Proxy
	// Via goes through the proxy without SDK retries, as the importer's
	// client does.
	Via *iot.Client
	// Direct goes straight to moto, for setting up and checking.
	Direct *iot.Client
	// Calls records every forwarded call by operation and resource.
	Calls *iotproxy.Recorder
}

// New starts moto and the proxy with cfg for t and creates Policy,
// ThingType and Group. cfg.Observe, if set, sees every forwarded call
// after the recorder.
func New(t testing.TB, cfg iotproxy.Config) *Env {
	t.Helper()
	moto := mototest.StartT(t)
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &iotproxy.Recorder{}
	if observe := cfg.Observe; observe != nil {
		cfg.Observe = func(op string, r *http.Request, body []byte) {
			rec.Observe(op, r, body)
			observe(op, r, body)
		}
	} else {
		cfg.Observe = rec.Observe
	}
	p := iotproxy.New(target, cfg)
	purl, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Close waits for the requests in flight, so none of them reaches
		// moto after the next test's reset.
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	e := &Env{
		Moto:   moto,
		Proxy:  p,
		Via:    iot.NewFromConfig(mototest.AWSConfig(t, purl), func(o *iot.Options) { o.Retryer = aws.NopRetryer{} }),
		Direct: iot.NewFromConfig(mototest.AWSConfig(t, moto.URL)),
		Calls:  rec,
	}
	ctx := t.Context()
	if _, err := e.Direct.CreatePolicy(ctx, &iot.CreatePolicyInput{
		PolicyName:     aws.String(Policy),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Direct.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String(ThingType)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Direct.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: aws.String(Group)}); err != nil {
		t.Fatal(err)
	}
	return e
}

// Device is what a complete device must look like in IoT.
type Device struct {
	ThingName string
	ChipID    string
	ReelID    string
}

// AssertComplete checks in moto that each device is a complete Thing (its
// type and attributes, exactly one certificate attached, Policy attached
// to it, in Group) and that moto holds no other Thing or certificate.
func (e *Env) AssertComplete(t testing.TB, devices []Device) {
	t.Helper()
	ctx := t.Context()
	var things []types.ThingAttribute
	for p := iot.NewListThingsPaginator(e.Direct, &iot.ListThingsInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		things = append(things, out.Things...)
	}
	if len(things) != len(devices) {
		t.Errorf("moto has %d things, want %d", len(things), len(devices))
	}
	var certs []types.Certificate
	for p := iot.NewListCertificatesPaginator(e.Direct, &iot.ListCertificatesInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, out.Certificates...)
	}
	if len(certs) != len(devices) {
		t.Errorf("moto has %d certificates, want %d", len(certs), len(devices))
	}
	for _, c := range certs {
		if c.Status != types.CertificateStatusActive {
			t.Errorf("certificate %s is %s, want ACTIVE", aws.ToString(c.CertificateId), c.Status)
		}
	}
	inGroup := map[string]bool{}
	for p := iot.NewListThingsInThingGroupPaginator(e.Direct, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(Group)}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range out.Things {
			inGroup[n] = true
		}
	}
	for _, d := range devices {
		th, err := e.Direct.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(d.ThingName)})
		if err != nil {
			t.Errorf("device %s: thing %s: %v", d.ChipID, d.ThingName, err)
			continue
		}
		if aws.ToString(th.ThingTypeName) != ThingType || th.Attributes["chip_id"] != d.ChipID || (d.ReelID != "" && th.Attributes["reel_id"] != d.ReelID) {
			t.Errorf("device %s: thing type %q attributes %v", d.ChipID, aws.ToString(th.ThingTypeName), th.Attributes)
		}
		pr, err := e.Direct.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(d.ThingName)})
		if err != nil || len(pr.Principals) != 1 {
			t.Errorf("device %s: principals %v, %v", d.ChipID, pr, err)
			continue
		}
		pol, err := e.Direct.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(pr.Principals[0])})
		if err != nil || len(pol.Policies) != 1 || aws.ToString(pol.Policies[0].PolicyName) != Policy {
			t.Errorf("device %s: policies %v, %v", d.ChipID, pol, err)
		}
		if !inGroup[d.ThingName] {
			t.Errorf("device %s: thing %s not in group %s", d.ChipID, d.ThingName, Group)
		}
	}
}
