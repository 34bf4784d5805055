package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/ratelimit"
)

// TestPaceFlags: import, bind, verify and remove take the same pacing
// flags and refuse bad ones before any call (the endpoint is one nothing
// listens on, so a call would fail otherwise).
func TestPaceFlags(t *testing.T) {
	isolateAWS(t)
	path := filepath.Join(t.TempDir(), "m.xml")
	commands := map[string][]string{
		"import": {"import", "--policy", "p"},
		"bind":   {"bind", "--policy", "p"},
		"verify": {"verify"},
		"remove": {"remove", "--yes"},
	}
	tests := []struct {
		name    string
		flags   []string
		wantErr string
	}{
		{name: "unknown operation", flags: []string{"--quota", "DescribeThingz=5"}, wantErr: `unknown operation "DescribeThingz"`},
		{name: "quota without rate", flags: []string{"--quota", "DescribeCertificate"}, wantErr: "want OPERATION=RATE"},
		{name: "zero quota", flags: []string{"--quota", "DescribeCertificate=0"}, wantErr: "want OPERATION=RATE with a positive rate"},
		{name: "negative rate", flags: []string{"--rate", "-1"}, wantErr: "--rate must be a positive number"},
		{name: "negative workers", flags: []string{"--workers", "-2"}, wantErr: "--workers -2"},
	}
	for cmd, base := range commands {
		for _, tt := range tests {
			t.Run(cmd+"/"+tt.name, func(t *testing.T) {
				args := append(append(append([]string{}, base...), "--endpoint-url", "http://127.0.0.1:1"), tt.flags...)
				_, stderr, code := runCLI(t, append(args, path)...)
				if code != exitFatal || !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("exit %d, stderr %q; want 2 with %q", code, stderr, tt.wantErr)
				}
			})
		}
	}
}

// TestPaceTables: --rate sets each command's ceiling operations, the
// others follow, and --quota has the last word.
func TestPaceTables(t *testing.T) {
	pace := paceOptions{rate: 40, quotas: []string{"listthingprincipals=7"}}
	flags := targetFlags{policies: []string{"a", "b"}, thingGroups: []string{"g"}}
	tgt := targetOptions{targetFlags: flags, pace: pace}
	verifyQ := (&verifyOptions{importedOptions: importedOptions{aws: tgt}}).quotaTable()
	removeQ := (&removeOptions{importedOptions: importedOptions{aws: tgt}}).quotaTable()
	bindQ, err := (&bindOptions{targetOptions: tgt}).quotaTable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		table map[string]float64
		op    string
		want  float64
	}{
		{name: "verify ceiling", table: verifyQ, op: ratelimit.OpDescribeCertificate, want: 40},
		{name: "verify ceiling 2", table: verifyQ, op: ratelimit.OpListPrincipalThings, want: 40},
		{name: "verify follows at its default", table: verifyQ, op: ratelimit.OpDescribeThing, want: 350},
		{name: "verify quota", table: verifyQ, op: ratelimit.OpListThingPrincipals, want: 7},
		{name: "verify list default", table: verifyQ, op: ratelimit.OpListThings, want: 10},
		{name: "remove ceiling", table: removeQ, op: ratelimit.OpDeleteCertificate, want: 40},
		{name: "remove quota over ceiling", table: removeQ, op: ratelimit.OpListThingPrincipals, want: 7},
		{name: "remove follows per policy", table: removeQ, op: ratelimit.OpDetachPolicy, want: 80},
		{name: "remove follows at its default", table: removeQ, op: ratelimit.OpDeleteThing, want: 100},
		{name: "bind ceiling", table: bindQ, op: ratelimit.OpUpdateCertificate, want: 40},
		{name: "bind follows per policy", table: bindQ, op: ratelimit.OpAttachPolicy, want: 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.table[tt.op]; got != tt.want {
				t.Errorf("%s = %v, want %v", tt.op, got, tt.want)
			}
		})
	}
}
