package iotproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// motoBehindProxy starts moto, puts a proxy in front of it and returns
// the proxy and an IoT client that makes at most attempts attempts.
func motoBehindProxy(t *testing.T, cfg Config) (*Proxy, func(attempts int) *iot.Client) {
	t.Helper()
	moto := mototest.StartT(t)
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := New(target, cfg)
	u, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	awsCfg := mototest.AWSConfig(t, u)
	return p, func(attempts int) *iot.Client {
		return iot.NewFromConfig(awsCfg, func(o *iot.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = 200 * time.Millisecond
			})
		})
	}
}

func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

func isRetryable(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSDKClassifiesInjectedErrors checks that the AWS SDK for Go v2 reads
// the proxy's answers as it reads AWS's: throttles as throttles, faults and
// dropped connections as retryable.
func TestSDKClassifiesInjectedErrors(t *testing.T) {
	p, client := motoBehindProxy(t, Config{Seed: 7})
	ctx := t.Context()
	once := client(1)

	t.Run("throttle", func(t *testing.T) {
		p.SetConfig(Config{Quotas: map[string]float64{"ListThings": 1}})
		frozen := time.Now()
		p.setClock(func() time.Time { return frozen }) // no refill, however slow the machine
		defer p.setClock(time.Now)
		if _, err := once.ListThings(ctx, &iot.ListThingsInput{}); err != nil {
			t.Fatalf("first call: %v", err)
		}
		_, err := once.ListThings(ctx, &iot.ListThingsInput{})
		if code := errorCode(err); code != "ThrottlingException" {
			t.Errorf("ErrorCode() = %q (%v), want ThrottlingException", code, err)
		}
		if !isThrottle(err) || !isRetryable(err) {
			t.Errorf("throttle: IsErrorThrottle %v, retryable %v", isThrottle(err), isRetryable(err))
		}
	})

	t.Run("faults", func(t *testing.T) {
		p.SetConfig(Config{FaultRate: 1, FaultOps: []string{"DescribeThing"}, Seed: 7})
		seen := map[string]bool{}
		for range 20 {
			_, err := once.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("x")})
			code := errorCode(err)
			seen[code] = true
			if code != "InternalFailureException" && code != "ServiceUnavailableException" {
				t.Fatalf("ErrorCode() = %q (%v)", code, err)
			}
			if !isRetryable(err) || isThrottle(err) {
				t.Errorf("%s: retryable %v, throttle %v", code, isRetryable(err), isThrottle(err))
			}
		}
		if len(seen) != 2 {
			t.Errorf("saw only %v in 20 faults", seen)
		}
	})

	t.Run("drop", func(t *testing.T) {
		p.SetConfig(Config{DropRate: 1, FaultOps: []string{"DescribeThing"}})
		_, err := once.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("x")})
		if err == nil || errorCode(err) != "" {
			t.Fatalf("err = %v, want a connection error", err)
		}
		if !isRetryable(err) {
			t.Errorf("dropped connection not retryable: %v", err)
		}
	})

	t.Run("the SDK retries through throttles", func(t *testing.T) {
		p.SetConfig(Config{Quotas: map[string]float64{"ListThings": 5}})
		p.ResetStats()
		patient := client(20)
		for i := range 12 {
			if _, err := patient.ListThings(ctx, &iot.ListThingsInput{}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		s := p.Stats()["ListThings"]
		if s.Forwarded != 12 || s.Throttled == 0 || s.Calls != s.Forwarded+s.Throttled {
			t.Errorf("stats %+v, want 12 forwarded and some throttled", s)
		}
	})
}

// TestDropAfterForward shows the case an importer must survive: the
// registration took effect, the client never heard, and the retry is
// answered ResourceAlreadyExistsException carrying the certificate's ID.
func TestDropAfterForward(t *testing.T) {
	p, client := motoBehindProxy(t, Config{DropRate: 1, DropAfterForward: 1, FaultOps: []string{"RegisterCertificateWithoutCA"}})
	ctx := t.Context()
	once := client(1)

	ca, err := generate.NewRoot("iotproxy test root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{Seed: "drop after forward"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.Raw)
	certID := hex.EncodeToString(sum[:])
	in := &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(string(generate.PEM(leaf.Cert))),
		Status:         types.CertificateStatusActive,
	}

	if _, err := once.RegisterCertificateWithoutCA(ctx, in); err == nil || !isRetryable(err) {
		t.Fatalf("first register: err = %v, want a retryable connection error", err)
	}
	if _, err := once.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(certID)}); err != nil {
		t.Fatalf("the dropped registration did not take effect: %v", err)
	}
	p.SetConfig(Config{})
	_, err = once.RegisterCertificateWithoutCA(ctx, in)
	var exists *types.ResourceAlreadyExistsException
	if !errors.As(err, &exists) || aws.ToString(exists.ResourceId) != certID {
		t.Errorf("retry: err = %v, want ResourceAlreadyExistsException with resourceId %s", err, certID)
	}
	s := p.Stats()["RegisterCertificateWithoutCA"]
	if s != (OpStats{Calls: 2, Forwarded: 2, Dropped: 1, DroppedAfterForward: 1}) {
		t.Errorf("stats %+v", s)
	}
}

// TestStrictCreateThing checks the two CreateThing checks moto lacks, as
// the SDK sees them: attributes outside AWS's patterns are refused with
// InvalidRequestException and no Thing is made; a second CreateThing of a
// name with other settings is refused with ResourceAlreadyExistsException.
func TestStrictCreateThing(t *testing.T) {
	p, client := motoBehindProxy(t, Config{StrictAttributes: true, StrictCreateThing: true})
	c := client(1)
	ctx := t.Context()
	create := func(name string, attrs map[string]string) error {
		_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(name), AttributePayload: &types.AttributePayload{Attributes: attrs}})
		return err
	}
	tests := []struct {
		name     string
		attrs    map[string]string
		wantCode string
	}{
		{name: "ok", attrs: map[string]string{"chip_id": "0A09-1B5C", "batch_id": "b4:25/x@y#z=[1],2.3"}},
		{name: "ok-empty-value", attrs: map[string]string{"chip_id": ""}},
		{name: "space-in-value", attrs: map[string]string{"chip_id": "0A09 1B5C"}, wantCode: "InvalidRequestException"},
		{name: "umlaut-in-name", attrs: map[string]string{"chïp": "x"}, wantCode: "InvalidRequestException"},
		{name: "equals-in-name", attrs: map[string]string{"a=b": "x"}, wantCode: "InvalidRequestException"},
		{name: "value-too-long", attrs: map[string]string{"chip_id": strings.Repeat("a", 801)}, wantCode: "InvalidRequestException"},
		{name: "name-too-long", attrs: map[string]string{strings.Repeat("a", 129): "x"}, wantCode: "InvalidRequestException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := create(tt.name, tt.attrs)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("CreateThing: %v, want code %q", err, tt.wantCode)
			}
			_, derr := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(tt.name)})
			if exists := derr == nil; exists != (tt.wantCode == "") {
				t.Errorf("thing exists: %v (%v), want %v", exists, derr, tt.wantCode == "")
			}
		})
	}
	if n := p.Stats()["CreateThing"].Invalid; n != 5 {
		t.Errorf("%d refused as invalid, want 5", n)
	}
	t.Run("other settings", func(t *testing.T) {
		if err := create("ok", map[string]string{"chip_id": "0A09-1B5C", "batch_id": "b4:25/x@y#z=[1],2.3"}); err != nil {
			t.Errorf("same settings again: %v", err)
		}
		if err := create("ok", map[string]string{"chip_id": "other"}); errorCode(err) != "ResourceAlreadyExistsException" {
			t.Errorf("other settings: %v, want ResourceAlreadyExistsException", err)
		}
	})
}

// TestStrictExclusive checks that a certificate attached with
// EXCLUSIVE_THING is refused for a second Thing, as AWS refuses it, and
// that without StrictExclusive moto accepts the parameter and ignores it.
func TestStrictExclusive(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(map[bool]string{true: "strict", false: "moto alone"}[strict], func(t *testing.T) {
			p, client := motoBehindProxy(t, Config{StrictExclusive: strict})
			c := client(1)
			ctx := t.Context()
			root, err := generate.NewRoot("Exclusive Root")
			if err != nil {
				t.Fatal(err)
			}
			register := func(seed string) string {
				t.Helper()
				l, err := root.Issue(generate.LeafOptions{Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				out, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
					CertificatePem: aws.String(string(generate.PEM(l.Cert))), Status: types.CertificateStatusActive,
				})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.CertificateArn)
			}
			for _, n := range []string{"a", "b"} {
				if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(n)}); err != nil {
					t.Fatal(err)
				}
			}
			attach := func(thing, arn string, kind types.ThingPrincipalType) error {
				_, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing), Principal: aws.String(arn), ThingPrincipalType: kind})
				return err
			}
			excl, shared := register(t.Name()+"-1"), register(t.Name()+"-2")
			want := func(err error, refused bool) {
				t.Helper()
				switch {
				case refused && errorCode(err) != "InvalidRequestException":
					t.Errorf("got %v, want InvalidRequestException", err)
				case !refused && err != nil:
					t.Errorf("got %v, want success", err)
				}
			}
			want(attach("a", excl, types.ThingPrincipalTypeExclusiveThing), false)
			want(attach("a", excl, types.ThingPrincipalTypeExclusiveThing), false) // again: idempotent
			want(attach("b", excl, ""), strict)
			want(attach("b", excl, types.ThingPrincipalTypeExclusiveThing), strict)
			want(attach("a", shared, ""), false)
			want(attach("b", shared, types.ThingPrincipalTypeExclusiveThing), strict)
			things, err := c.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(excl)})
			if err != nil {
				t.Fatal(err)
			}
			if wantN := map[bool]int{true: 1, false: 2}[strict]; len(things.Things) != wantN {
				t.Errorf("exclusive certificate attached to %v, want %d things", things.Things, wantN)
			}
			if n, wantN := p.Stats()["AttachThingPrincipal"].Refused, map[bool]int64{true: 3, false: 0}[strict]; n != wantN {
				t.Errorf("%d refused, want %d", n, wantN)
			}
		})
	}
}
