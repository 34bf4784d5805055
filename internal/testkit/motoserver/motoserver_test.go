package motoserver_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

func iotClient(t *testing.T, s *motoserver.Server) *iot.Client {
	t.Helper()
	return iot.NewFromConfig(mototest.AWSConfig(t, s.URL), func(o *iot.Options) {
		o.RetryMaxAttempts = 1 // moto's answers are what is under test
	})
}

// newCertPEM issues a fresh device certificate and returns its PEM (CRLF
// line endings, as Infineon writes them) and the hex SHA-256 of its DER.
func newCertPEM(t *testing.T, seed string) (pemText, derSHA256 string) {
	t.Helper()
	ca, err := generate.NewRoot("motoserver test root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.Raw)
	return string(generate.PEM(leaf.Cert)), hex.EncodeToString(sum[:])
}

func answers(url string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/moto-api/data.json")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func TestStartStop(t *testing.T) {
	if err := motoserver.Available(); err != nil {
		mototest.StartT(t) // skips or fails with the reason
	}
	begin := time.Now()
	s, err := motoserver.Start(t.Context(), motoserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moto answered after %v at %s", time.Since(begin).Round(time.Millisecond), s.URL)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || s.Port == 0 {
		t.Errorf("URL = %q, Port = %d", s.URL, s.Port)
	}
	if !answers(s.URL) {
		t.Fatal("moto does not answer after Start")
	}
	if err := s.Reset(); err != nil {
		t.Errorf("Reset: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if answers(s.URL) {
		t.Error("moto still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// The port is free again: the whole process group is gone.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.Port))
	if err != nil {
		t.Errorf("port still taken after Stop: %v", err)
	} else {
		l.Close()
	}
}

func TestStartFails(t *testing.T) {
	// A stand-in interpreter that ignores the launcher and never listens.
	silent := filepath.Join(t.TempDir(), "silent-python")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    motoserver.Options
		wantErr string
	}{
		{name: "no such interpreter", opts: motoserver.Options{Python: "/nonexistent/python3"}, wantErr: "start"},
		{name: "interpreter exits at once", opts: motoserver.Options{Python: "false"}, wantErr: "exited before answering"},
		{name: "never answers", opts: motoserver.Options{Python: silent, StartTimeout: 300 * time.Millisecond}, wantErr: "not answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := motoserver.Start(t.Context(), tt.opts)
			if err == nil {
				_ = s.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestStartPortTaken: a port another server listens on is refused at
// once; Start must never take that server's answers for moto's (another
// test binary's moto or proxy would then get this binary's requests).
func TestStartPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	foreign := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = foreign.Serve(ln) }()
	t.Cleanup(func() { foreign.Close() })
	s, err := motoserver.Start(t.Context(), motoserver.Options{Port: ln.Addr().(*net.TCPAddr).Port})
	if err == nil {
		_ = s.Stop()
		t.Fatalf("Start succeeded at %s, which another server holds", s.URL)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say the port is taken", err)
	}
}

// TestCertificateIDIsDERHash proves the launcher's use_valid_cert setting
// took effect, and that it survives a Reset.
func TestCertificateIDIsDERHash(t *testing.T) {
	s := mototest.StartT(t)
	c := iotClient(t, s)
	ctx := t.Context()

	if _, err := c.ListThings(ctx, &iot.ListThingsInput{}); err != nil {
		t.Fatalf("ListThings: %v", err)
	}
	if _, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{
		PolicyName:     aws.String("thingpress-test"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`),
	}); err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	for i, seed := range []string{"before reset", "after reset"} {
		if i == 1 {
			if err := s.Reset(); err != nil {
				t.Fatal(err)
			}
		}
		pemText, want := newCertPEM(t, seed)
		out, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
			CertificatePem: aws.String(pemText),
			Status:         types.CertificateStatusActive,
		})
		if err != nil {
			t.Fatalf("%s: RegisterCertificateWithoutCA: %v", seed, err)
		}
		if got := aws.ToString(out.CertificateId); got != want {
			t.Errorf("%s: certificateId = %s, want SHA-256 of DER %s", seed, got, want)
		}
		wantARN := "arn:aws:iot:us-east-1:123456789012:cert/" + want
		if got := aws.ToString(out.CertificateArn); got != wantARN {
			t.Errorf("%s: certificateArn = %s, want %s", seed, got, wantARN)
		}
	}
}

// TestMotoIoTBehaviour pins down how moto 5.2.1 answers the calls the
// importer makes, including where it differs from AWS, so that a moto
// upgrade that changes them is noticed here rather than in the importer.
func TestMotoIoTBehaviour(t *testing.T) {
	s := mototest.StartT(t)
	c := iotClient(t, s)
	ctx := t.Context()

	pemText, certID := newCertPEM(t, "behaviour")
	reg, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(pemText), Status: types.CertificateStatusActive,
	})
	if err != nil {
		t.Fatal(err)
	}
	certARN := aws.ToString(reg.CertificateArn)
	mustOK := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	mustOK(t, "CreateThingType", func() error {
		_, err := c.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String("tt")})
		return err
	}())
	mustOK(t, "CreatePolicy", func() error {
		_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)})
		return err
	}())
	mustOK(t, "CreateThingGroup", func() error {
		_, err := c.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: aws.String("g")})
		return err
	}())
	createThing := func(attrs map[string]string, thingType string) (*iot.CreateThingOutput, error) {
		in := &iot.CreateThingInput{ThingName: aws.String("t1"), AttributePayload: &types.AttributePayload{Attributes: attrs}}
		if thingType != "" {
			in.ThingTypeName = aws.String(thingType)
		}
		return c.CreateThing(ctx, in)
	}
	first, err := createThing(map[string]string{"a": "1"}, "tt")
	mustOK(t, "CreateThing", err)

	t.Run("duplicate certificate is 409 with the existing ID and ARN", func(t *testing.T) {
		for _, status := range []types.CertificateStatus{types.CertificateStatusActive, types.CertificateStatusInactive} {
			_, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
				CertificatePem: aws.String(pemText), Status: status,
			})
			var exists *types.ResourceAlreadyExistsException
			if !errors.As(err, &exists) {
				t.Fatalf("status %s: err = %v, want ResourceAlreadyExistsException", status, err)
			}
			if aws.ToString(exists.ResourceId) != certID || aws.ToString(exists.ResourceArn) != certARN {
				t.Errorf("resourceId %q resourceArn %q, want %q %q", aws.ToString(exists.ResourceId), aws.ToString(exists.ResourceArn), certID, certARN)
			}
			if code := httpStatus(err); code != http.StatusConflict {
				t.Errorf("HTTP status %d, want 409", code)
			}
		}
	})

	t.Run("invalid PEM is a 500 HTML page, not CertificateValidationException", func(t *testing.T) {
		_, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
			CertificatePem: aws.String("not a certificate"), Status: types.CertificateStatusActive,
		})
		if code := httpStatus(err); code != http.StatusInternalServerError {
			t.Errorf("err = %v (HTTP %d), want HTTP 500", err, code)
		}
	})

	t.Run("CreateThing again succeeds with a new thingId and replaces the config", func(t *testing.T) {
		same, err := createThing(map[string]string{"a": "1"}, "tt")
		mustOK(t, "same config", err)
		if aws.ToString(same.ThingId) == aws.ToString(first.ThingId) {
			t.Errorf("same thingId %s; moto used to mint a new one (AWS keeps it)", aws.ToString(same.ThingId))
		}
		if aws.ToString(same.ThingArn) != aws.ToString(first.ThingArn) {
			t.Errorf("ARN changed: %s -> %s", aws.ToString(first.ThingArn), aws.ToString(same.ThingArn))
		}
		// AWS answers ResourceAlreadyExistsException here; moto overwrites.
		_, err = createThing(map[string]string{"a": "2"}, "")
		mustOK(t, "other config", err)
		d, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("t1")})
		mustOK(t, "DescribeThing", err)
		if d.Attributes["a"] != "2" || d.ThingTypeName != nil {
			t.Errorf("after re-create: attributes %v type %v, want the last config", d.Attributes, aws.ToString(d.ThingTypeName))
		}
		// Put the thing back as the later subtests expect it.
		_, err = createThing(map[string]string{"a": "1"}, "tt")
		mustOK(t, "restore", err)
	})

	t.Run("CreateThing with an unknown thing type is 404", func(t *testing.T) {
		_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("t2"), ThingTypeName: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("err = %v, want ResourceNotFoundException", err)
		}
	})

	t.Run("AttachThingPrincipal is idempotent", func(t *testing.T) {
		for range 2 {
			_, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String("t1"), Principal: aws.String(certARN)})
			mustOK(t, "AttachThingPrincipal", err)
		}
		out, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("t1")})
		mustOK(t, "ListThingPrincipals", err)
		if len(out.Principals) != 1 || out.Principals[0] != certARN {
			t.Errorf("principals %v", out.Principals)
		}
	})

	t.Run("AttachThingPrincipal to a missing thing or certificate is 404", func(t *testing.T) {
		for _, in := range []*iot.AttachThingPrincipalInput{
			{ThingName: aws.String("missing"), Principal: aws.String(certARN)},
			{ThingName: aws.String("t1"), Principal: aws.String("arn:aws:iot:us-east-1:123456789012:cert/" + strings.Repeat("0", 64))},
		} {
			_, err := c.AttachThingPrincipal(ctx, in)
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("%s/%s: err = %v, want ResourceNotFoundException", aws.ToString(in.ThingName), aws.ToString(in.Principal), err)
			}
		}
	})

	t.Run("AttachPolicy is idempotent, missing policy is 404", func(t *testing.T) {
		for range 2 {
			_, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("p"), Target: aws.String(certARN)})
			mustOK(t, "AttachPolicy", err)
		}
		out, err := c.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(certARN)})
		mustOK(t, "ListAttachedPolicies", err)
		if len(out.Policies) != 1 {
			t.Errorf("policies %v", out.Policies)
		}
		_, err = c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("missing"), Target: aws.String(certARN)})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("missing policy: err = %v, want ResourceNotFoundException", err)
		}
	})

	t.Run("AddThingToThingGroup is idempotent, missing thing or group is 404", func(t *testing.T) {
		for range 2 {
			_, err := c.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{ThingName: aws.String("t1"), ThingGroupName: aws.String("g")})
			mustOK(t, "AddThingToThingGroup", err)
		}
		out, err := c.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String("g")})
		mustOK(t, "ListThingsInThingGroup", err)
		if len(out.Things) != 1 || out.Things[0] != "t1" {
			t.Errorf("things %v", out.Things)
		}
		for _, in := range []*iot.AddThingToThingGroupInput{
			{ThingName: aws.String("missing"), ThingGroupName: aws.String("g")},
			{ThingName: aws.String("t1"), ThingGroupName: aws.String("missing")},
		} {
			_, err := c.AddThingToThingGroup(ctx, in)
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("%s in %s: err = %v, want ResourceNotFoundException", aws.ToString(in.ThingName), aws.ToString(in.ThingGroupName), err)
			}
		}
	})

	t.Run("re-creating a thing keeps its principals and groups", func(t *testing.T) {
		_, err := createThing(map[string]string{"a": "1"}, "tt")
		mustOK(t, "CreateThing", err)
		p, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("t1")})
		mustOK(t, "ListThingPrincipals", err)
		g, err := c.ListThingGroupsForThing(ctx, &iot.ListThingGroupsForThingInput{ThingName: aws.String("t1")})
		mustOK(t, "ListThingGroupsForThing", err)
		if len(p.Principals) != 1 || len(g.ThingGroups) != 1 {
			t.Errorf("principals %v groups %v", p.Principals, g.ThingGroups)
		}
	})

	t.Run("CreateThingGroup again without properties is 409", func(t *testing.T) {
		// AWS returns the existing group; moto compares the missing
		// properties with the stored empty ones and reports a conflict.
		_, err := c.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: aws.String("g")})
		var exists *types.ResourceAlreadyExistsException
		if !errors.As(err, &exists) {
			t.Errorf("err = %v, want ResourceAlreadyExistsException", err)
		}
	})

	t.Run("CreateThingType and CreatePolicy again", func(t *testing.T) {
		_, err := c.CreateThingType(ctx, &iot.CreateThingTypeInput{ThingTypeName: aws.String("tt")})
		mustOK(t, "CreateThingType", err)
		_, err = c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(`{}`)})
		var exists *types.ResourceAlreadyExistsException
		if !errors.As(err, &exists) || aws.ToString(exists.ResourceId) != "p" {
			t.Errorf("CreatePolicy again: err = %v, want ResourceAlreadyExistsException with resourceId p", err)
		}
	})

	t.Run("preflight lookups", func(t *testing.T) {
		_, err := c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String("p")})
		mustOK(t, "GetPolicy", err)
		_, err = c.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: aws.String("tt")})
		mustOK(t, "DescribeThingType", err)
		_, err = c.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String("g")})
		mustOK(t, "DescribeThingGroup", err)
		d, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(certID)})
		mustOK(t, "DescribeCertificate", err)
		if d.CertificateDescription.Status != types.CertificateStatusActive {
			t.Errorf("status %s", d.CertificateDescription.Status)
		}
		for name, call := range map[string]func() error{
			"GetPolicy": func() error {
				_, err := c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String("missing")})
				return err
			},
			"DescribeThingType": func() error {
				_, err := c.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: aws.String("missing")})
				return err
			},
			"DescribeThingGroup": func() error {
				_, err := c.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String("missing")})
				return err
			},
			"DescribeCertificate": func() error {
				_, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(strings.Repeat("0", 64))})
				return err
			},
		} {
			var nf *types.ResourceNotFoundException
			if err := call(); !errors.As(err, &nf) {
				t.Errorf("%s of a missing resource: err = %v, want ResourceNotFoundException", name, err)
			}
		}
	})
}

// httpStatus digs the HTTP status code out of an SDK error, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
