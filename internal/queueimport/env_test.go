package queueimport_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{stack.EnvImportQueueURL: "https://sqs/q", stack.EnvPolicyNames: "p1", stack.EnvThingGroups: "g"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
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
			c, err := queueimport.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, lambdarun.ErrEnv) {
					t.Fatalf("error %v, want ErrEnv naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
