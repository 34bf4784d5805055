package awsconf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/thingpress/thingpress/internal/awsconf"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile eu]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	tests := []struct {
		name, region, profile, env string
		wantRegion                 string
		wantErr                    error
	}{
		{name: "nothing configured", wantErr: awsconf.ErrNoRegion},
		{name: "region flag", region: "us-west-2", wantRegion: "us-west-2"},
		{name: "environment", env: "ap-south-1", wantRegion: "ap-south-1"},
		{name: "flag over environment", region: "us-west-2", env: "ap-south-1", wantRegion: "us-west-2"},
		{name: "profile's region", profile: "eu", wantRegion: "eu-west-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("AWS_REGION", tc.env)
			}
			cfg, err := awsconf.Load(context.Background(), tc.region, tc.profile)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.wantRegion {
				t.Errorf("region %q, want %q", cfg.Region, tc.wantRegion)
			}
		})
	}
}
