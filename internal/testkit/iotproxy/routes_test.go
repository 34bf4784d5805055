package iotproxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

func TestOperation(t *testing.T) {
	const arn = "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Acert%2Fabc"
	tests := []struct {
		name   string
		method string
		target string
		auth   string
		want   string
	}{
		{name: "register without CA", method: "POST", target: "/certificate/register-no-ca", want: "RegisterCertificateWithoutCA"},
		{name: "register with CA", method: "POST", target: "/certificate/register", want: "RegisterCertificate"},
		{name: "describe certificate", method: "GET", target: "/certificates/abc", want: "DescribeCertificate"},
		{name: "update certificate", method: "PUT", target: "/certificates/abc?newStatus=INACTIVE", want: "UpdateCertificate"},
		{name: "create thing", method: "POST", target: "/things/t1", want: "CreateThing"},
		{name: "describe thing", method: "GET", target: "/things/t1", want: "DescribeThing"},
		{name: "list things", method: "GET", target: "/things?maxResults=5", want: "ListThings"},
		{name: "attach thing principal", method: "PUT", target: "/things/t1/principals", want: "AttachThingPrincipal"},
		{name: "list thing principals", method: "GET", target: "/things/t1/principals", want: "ListThingPrincipals"},
		{name: "attach policy", method: "PUT", target: "/target-policies/p", want: "AttachPolicy"},
		{name: "list attached policies of an ARN", method: "POST", target: "/attached-policies/" + arn, want: "ListAttachedPolicies"},
		{name: "add thing to group beats describe-group shape", method: "PUT", target: "/thing-groups/addThingToThingGroup", want: "AddThingToThingGroup"},
		{name: "describe group named like an action", method: "GET", target: "/thing-groups/addThingToThingGroup", want: "DescribeThingGroup"},
		{name: "get policy", method: "GET", target: "/policies/p", want: "GetPolicy"},
		{name: "describe thing type", method: "GET", target: "/thing-types/tt", want: "DescribeThingType"},
		{name: "describe thing group", method: "GET", target: "/thing-groups/g", want: "DescribeThingGroup"},
		{name: "signed for iot", method: "POST", target: "/things/t1", auth: "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=x", want: "CreateThing"},
		{name: "signed for s3", method: "GET", target: "/things", auth: "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x", want: Other},
		{name: "moto api", method: "POST", target: "/moto-api/reset", want: Other},
		{name: "unknown method", method: "PATCH", target: "/certificates/abc", want: Other},
		{name: "empty label", method: "GET", target: "/things//principals", want: Other},
		{name: "root", method: "GET", target: "/", want: Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if got := Operation(r); got != tt.want {
				t.Errorf("Operation(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
			}
		})
	}
}

// TestOperationMatchesSDK sends real SDK calls through the proxy and
// checks each is counted under its own name, which ties the route table
// to the SDK's serializers.
func TestOperationMatchesSDK(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(backend.Close)
	target, _ := url.Parse(backend.URL)
	p := New(target, Config{})
	proxyURL, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := iot.NewFromConfig(mototest.AWSConfig(t, proxyURL), func(o *iot.Options) { o.RetryMaxAttempts = 1 })
	ctx := t.Context()
	const certARN = "arn:aws:iot:us-east-1:123456789012:cert/abc"
	s := aws.String
	calls := []struct {
		op   string
		call func() error
	}{
		{"RegisterCertificateWithoutCA", func() error {
			_, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{CertificatePem: s("x")})
			return err
		}},
		{"RegisterCertificate", func() error {
			_, err := c.RegisterCertificate(ctx, &iot.RegisterCertificateInput{CertificatePem: s("x")})
			return err
		}},
		{"DescribeCertificate", func() error {
			_, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: s("abc")})
			return err
		}},
		{"UpdateCertificate", func() error {
			_, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: s("abc"), NewStatus: types.CertificateStatusActive})
			return err
		}},
		{"ListCertificates", func() error { _, err := c.ListCertificates(ctx, &iot.ListCertificatesInput{}); return err }},
		{"CreateThing", func() error { _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: s("t")}); return err }},
		{"DescribeThing", func() error { _, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: s("t")}); return err }},
		{"DeleteThing", func() error { _, err := c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: s("t")}); return err }},
		{"ListThings", func() error { _, err := c.ListThings(ctx, &iot.ListThingsInput{}); return err }},
		{"AttachThingPrincipal", func() error {
			_, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: s("t"), Principal: s(certARN)})
			return err
		}},
		{"ListThingPrincipals", func() error {
			_, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: s("t")})
			return err
		}},
		{"DetachThingPrincipal", func() error {
			_, err := c.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: s("t"), Principal: s(certARN)})
			return err
		}},
		{"ListPrincipalThings", func() error {
			_, err := c.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: s(certARN)})
			return err
		}},
		{"ListThingGroupsForThing", func() error {
			_, err := c.ListThingGroupsForThing(ctx, &iot.ListThingGroupsForThingInput{ThingName: s("t")})
			return err
		}},
		{"AttachPolicy", func() error {
			_, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: s("p"), Target: s(certARN)})
			return err
		}},
		{"DetachPolicy", func() error {
			_, err := c.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: s("p"), Target: s(certARN)})
			return err
		}},
		{"ListAttachedPolicies", func() error {
			_, err := c.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: s(certARN)})
			return err
		}},
		{"GetPolicy", func() error { _, err := c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: s("p")}); return err }},
		{"CreatePolicy", func() error {
			_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: s("p"), PolicyDocument: s("{}")})
			return err
		}},
		{"AddThingToThingGroup", func() error {
			_, err := c.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{ThingName: s("t"), ThingGroupName: s("g")})
			return err
		}},
		{"RemoveThingFromThingGroup", func() error {
			_, err := c.RemoveThingFromThingGroup(ctx, &iot.RemoveThingFromThingGroupInput{ThingName: s("t"), ThingGroupName: s("g")})
			return err
		}},
		{"DescribeThingGroup", func() error {
			_, err := c.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: s("g")})
			return err
		}},
		{"CreateThingGroup", func() error {
			_, err := c.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: s("g")})
			return err
		}},
		{"ListThingsInThingGroup", func() error {
			_, err := c.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: s("g")})
			return err
		}},
		{"DescribeThingType", func() error {
			_, err := c.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: s("tt")})
			return err
		}},
		{"CreateThingType", func() error {
			_, err := c.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: s("tt")})
			return err
		}},
		{"DescribeEndpoint", func() error { _, err := c.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{}); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.op, func(t *testing.T) {
			p.ResetStats()
			if err := tc.call(); err != nil {
				t.Fatalf("call: %v", err)
			}
			if got := p.Counts(); got[tc.op] != 1 || len(got) != 1 {
				t.Errorf("counts = %v, want exactly {%s:1}", got, tc.op)
			}
		})
	}
}
