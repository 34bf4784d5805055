package provider_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/envtest"
)

func TestConfigFromEnv(t *testing.T) {
	root, err := generate.NewRoot("env test root")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{stack.EnvImportQueueURL: "https://sqs/q", stack.EnvPolicyNames: "p1"}
	with := func(kv ...string) map[string]string { return envtest.With(base, kv...) }
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c provider.Config)
		wantErr string
	}{
		{name: "defaults", env: base, check: func(t *testing.T, c provider.Config) {
			if c.Slot != "E0E0" || c.DevicesPerMessage != stack.DefaultDevicesPerMessage || c.SummaryPrefix != stack.DefaultSummaryPrefix ||
				c.MaxManifestBytes != stack.DefaultMaxManifestBytes || c.Trust == nil || c.Target.ThingType != "" || len(c.Target.ThingGroups) != 0 {
				t.Errorf("config %+v", c)
			}
			if a := strings.Join(c.Trust.Anchors(), ","); !strings.Contains(a, "Infineon") {
				t.Errorf("default anchors %s, want Infineon's", a)
			}
		}},
		{name: "everything set", env: with(stack.EnvCertificateType, "e0e2", stack.EnvThingType, "t", stack.EnvThingGroups, "g1,g2",
			stack.EnvDevicesPerMessage, "10", stack.EnvSummaryPrefix, "s/", stack.EnvMaxManifestBytes, "1000",
			stack.EnvTrustAnchorsPEM, string(generate.PEM(root.Cert))), check: func(t *testing.T, c provider.Config) {
			if c.Slot != "E0E2" || c.DevicesPerMessage != 10 || c.SummaryPrefix != "s/" || c.MaxManifestBytes != 1000 ||
				c.Target.ThingType != "t" || strings.Join(c.Target.ThingGroups, ",") != "g1,g2" {
				t.Errorf("config %+v", c)
			}
			if a := strings.Join(c.Trust.Anchors(), ","); a != "env test root" {
				t.Errorf("anchors %s, want the PEM's", a)
			}
		}},
		{name: "buckets", env: with(stack.EnvInfineonBucket, "s-infineon", stack.EnvEspressifBucket, "s-espressif", stack.EnvNoVerifyChain, "True"),
			check: func(t *testing.T, c provider.Config) {
				want := map[string]stack.Vendor{"s-infineon": stack.VendorInfineon, "s-espressif": stack.VendorEspressif}
				if !maps.Equal(c.Buckets, want) || !c.NoVerifyChain {
					t.Errorf("buckets %v, no-verify-chain %v; want %v, true", c.Buckets, c.NoVerifyChain, want)
				}
			}},
		{name: "no buckets named", env: base, check: func(t *testing.T, c provider.Config) {
			if c.Buckets != nil || c.NoVerifyChain {
				t.Errorf("buckets %v, no-verify-chain %v", c.Buckets, c.NoVerifyChain)
			}
		}},
		{name: "bad no-verify-chain", env: with(stack.EnvNoVerifyChain, "yes"), wantErr: stack.EnvNoVerifyChain},
		{name: "no queue", env: map[string]string{stack.EnvPolicyNames: "p"}, wantErr: stack.EnvImportQueueURL},
		{name: "no policy", env: with(stack.EnvPolicyNames, " "), wantErr: stack.EnvPolicyNames},
		{name: "bad slot", env: with(stack.EnvCertificateType, "F000"), wantErr: stack.EnvCertificateType},
		{name: "bad count", env: with(stack.EnvDevicesPerMessage, "0"), wantErr: stack.EnvDevicesPerMessage},
		{name: "bad trust PEM", env: with(stack.EnvTrustAnchorsPEM, "not PEM"), wantErr: stack.EnvTrustAnchorsPEM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := envtest.Config(t, provider.ConfigFromEnv, tc.env, tc.wantErr)
			if !ok {
				return
			}
			tc.check(t, c)
		})
	}
}
