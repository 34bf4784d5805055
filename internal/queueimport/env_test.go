package queueimport_test

import (
	"testing"

	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/envtest"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{stack.EnvImportQueueURL: "https://sqs/q", stack.EnvPolicyNames: "p1", stack.EnvThingGroups: "g"}
	with := func(kv ...string) map[string]string { return envtest.With(base, kv...) }
	tests := []struct {
		name         string
		env          map[string]string
		wantRegister float64
		wantPolicy   float64
		wantErr      string
	}{
		{name: "defaults: AWS's quotas over two invocations", env: base, wantRegister: 5, wantPolicy: 7.5},
		{name: "raised quotas over ten", env: with(stack.EnvQuotaRegister, "100", stack.EnvQuotaAttachPolicy, "150", stack.EnvImporterConcurrency, "10"),
			wantRegister: 10, wantPolicy: 15},
		{name: "bad quota", env: with(stack.EnvQuotaRegister, "0"), wantErr: stack.EnvQuotaRegister},
		{name: "bad concurrency", env: with(stack.EnvImporterConcurrency, "0"), wantErr: stack.EnvImporterConcurrency},
		{name: "no policy", env: with(stack.EnvPolicyNames, ""), wantErr: stack.EnvPolicyNames},
		{name: "no queue", env: with(stack.EnvImportQueueURL, ""), wantErr: stack.EnvImportQueueURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := envtest.Config(t, queueimport.ConfigFromEnv, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if got := c.Quotas[ratelimit.OpRegisterCertificateWithoutCA]; got != tc.wantRegister {
				t.Errorf("register share %v, want %v", got, tc.wantRegister)
			}
			if got := c.Quotas[ratelimit.OpAttachPolicy]; got != tc.wantPolicy {
				t.Errorf("AttachPolicy share %v, want %v", got, tc.wantPolicy)
			}
			if len(c.Target.ThingGroups) != 1 || c.Target.Policies[0] != "p1" {
				t.Errorf("target %+v", c.Target)
			}
		})
	}
}
