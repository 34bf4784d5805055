package importer_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/iotproxy"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/motoserver/mototest"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testpki"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

const (
	testPolicy = "tp-policy"
	testType   = "tp-type"
	testGroup  = "tp-group"
)

// env is moto behind the fault-injecting proxy, with a policy, a thing
// type and a thing group, and the clients to reach both.
type env struct {
	proxy  *iotproxy.Proxy
	via    *iot.Client // through the proxy, without SDK retries: the importer's
	direct *iot.Client // straight to moto, for checking results
	calls  *iotproxy.Recorder
}

func newEnv(t testing.TB, cfg iotproxy.Config) *env {
	t.Helper()
	moto := mototest.StartT(t)
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	log := &iotproxy.Recorder{}
	cfg.Observe = log.Observe
	p := iotproxy.New(target, cfg)
	purl, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	via := iot.NewFromConfig(mototest.AWSConfig(t, purl), func(o *iot.Options) { o.Retryer = aws.NopRetryer{} })
	direct := iot.NewFromConfig(mototest.AWSConfig(t, moto.URL))
	ctx := context.Background()
	if _, err := direct.CreatePolicy(ctx, &iot.CreatePolicyInput{
		PolicyName:     aws.String(testPolicy),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String(testType)}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: aws.String(testGroup)}); err != nil {
		t.Fatal(err)
	}
	return &env{proxy: p, via: via, direct: direct, calls: log}
}

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
	st, err := state.Open(statePath, state.Meta{ManifestSHA256: strings.Repeat("ab", 32), Slot: "E0E0", Region: "us-east-1", Endpoint: e.proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	limits, err := ratelimit.NewSet(quotas)
	if err != nil {
		t.Fatal(err)
	}
	im := importer.New(importer.Config{
		API: e.via, Target: tgt, Limits: limits, State: st,
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
	root, err := testpki.NewRoot("Fleet Root")
	if err != nil {
		t.Fatal(err)
	}
	store, err := trust.FromPEM(testpki.PEM(root.Cert))
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{store: store}
	for i := range n {
		l, err := root.Issue(testpki.LeafOptions{Seed: fmt.Sprintf("%s-%d", t.Name(), i)})
		if err != nil {
			t.Fatal(err)
		}
		chip := fmt.Sprintf("0A091B5C00150007%04X", i)
		f.recs = append(f.recs, manifest.Record{
			Entry: chip + "_E0E0.pem", ChipID: chip, Slot: "E0E0", ReelID: "78211223032C7EFA",
			BatchID: "b41425b9-b42b-47fd-95c2-f981b4c61561", Data: testpki.PEM(l.Cert),
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
	err := im.ImportManifest(ctx, f.source(), importer.RunOptions{
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

// assertComplete checks in moto that every device of f is a complete
// Thing and nothing exists twice.
func assertComplete(t testing.TB, e *env, f *fleet) {
	t.Helper()
	ctx := context.Background()
	var things []types.ThingAttribute
	for p := iot.NewListThingsPaginator(e.direct, &iot.ListThingsInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		things = append(things, out.Things...)
	}
	if len(things) != len(f.recs) {
		t.Errorf("moto has %d things, want %d", len(things), len(f.recs))
	}
	var certs []types.Certificate
	for p := iot.NewListCertificatesPaginator(e.direct, &iot.ListCertificatesInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, out.Certificates...)
	}
	if len(certs) != len(f.recs) {
		t.Errorf("moto has %d certificates, want %d", len(certs), len(f.recs))
	}
	inGroup := map[string]bool{}
	for p := iot.NewListThingsInThingGroupPaginator(e.direct, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(testGroup)}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range out.Things {
			inGroup[n] = true
		}
	}
	for i, name := range f.names {
		chip := f.recs[i].ChipID
		th, err := e.direct.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(name)})
		if err != nil {
			t.Errorf("device %s: thing %s: %v", chip, name, err)
			continue
		}
		if aws.ToString(th.ThingTypeName) != testType || th.Attributes["chip_id"] != chip || th.Attributes["reel_id"] != "78211223032C7EFA" {
			t.Errorf("device %s: thing type %q attributes %v", chip, aws.ToString(th.ThingTypeName), th.Attributes)
		}
		pr, err := e.direct.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(name)})
		if err != nil || len(pr.Principals) != 1 {
			t.Errorf("device %s: principals %v, %v", chip, pr, err)
			continue
		}
		pol, err := e.direct.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(pr.Principals[0])})
		if err != nil || len(pol.Policies) != 1 || aws.ToString(pol.Policies[0].PolicyName) != testPolicy {
			t.Errorf("device %s: policies %v, %v", chip, pol, err)
		}
		if !inGroup[name] {
			t.Errorf("device %s: thing %s not in group %s", chip, name, testGroup)
		}
	}
}

// statePath is a fresh state file path for t.
func statePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "import.state")
}
