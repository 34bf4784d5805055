package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// TestUploadAndStatus runs the documented steps against a stack in moto:
// upload a manifest, then look at the stack.
func TestUploadAndStatus(t *testing.T) {
	isolateAWS(t)
	s := stacktest.New(t, "tp-cli", stacktest.Options{})
	path := filepath.Join(t.TempDir(), "reel a+b.7z")
	data, err := os.ReadFile("testdata/mini-reel.7z")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	aws := []string{"--endpoint-url", s.Moto.URL}

	out, stderr, code := runCLI(t, append([]string{"upload", "--stack", s.Name, path}, aws...)...)
	if code != exitOK {
		t.Fatalf("upload: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "s3://tp-cli-infineon/reel a+b.7z") || !strings.Contains(out, "thingpress status --stack tp-cli") ||
		!strings.Contains(out, "Bucket: tp-cli-infineon, the stack's infineon bucket") {
		t.Errorf("upload output:\n%s", out)
	}
	if ev, _ := s.ObjectCreatedEvent(t, "reel a+b.7z"); len(ev.Records) != 1 {
		t.Errorf("no event for the upload: %+v", ev)
	}

	out, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name, "--output", "json"}, aws...)...)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	var st stackclient.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	if st.Stack != s.Name || st.Bucket != s.Bucket || len(st.Queues) != 3 || st.Queues[0].Name != stack.LogicalImportQueue {
		t.Errorf("status %+v", st)
	}
	out, stderr, code = runCLI(t, append([]string{"status", "--stack", s.Name}, aws...)...)
	if code != exitOK || !strings.Contains(out, "ImportDeadLetterQueue") || !strings.Contains(out, "No manifest summaries yet") {
		t.Errorf("status text: exit %d: %s%s", code, out, stderr)
	}

	tests := []usageCase{
		{name: "upload without --stack", args: []string{"upload", path}, want: "--stack is required"},
		{name: "upload with another vendor", args: []string{"upload", "--stack", s.Name, "--vendor", "espressif", path},
			want: "holds a manifest of vendor infineon, not espressif"},
		{name: "upload with an unknown vendor", args: []string{"upload", "--stack", s.Name, "--vendor", "nxp", path}, want: "--vendor"},
		{name: "upload of what no vendor reads", args: []string{"upload", "--stack", s.Name, "--key", "x.bin", "--vendor", "auto", mustWrite(t, "x.bin", "hello")},
			want: "cannot tell the vendor of"},
		{name: "upload under a key the stack ignores", args: []string{"upload", "--stack", s.Name, "--key", "reel.zip", path}, want: "only keys ending in .7z or .xml"},
		{name: "upload of a csv under a key for another vendor", args: []string{"upload", "--stack", s.Name, "--key", "modules.txt", mixedEspressif},
			want: "only keys ending in .csv (lower case) in its espressif bucket"},
		{name: "upload without a file", args: []string{"upload", "--stack", s.Name}, want: "exactly one MANIFEST"},
		{name: "status without --stack", args: []string{"status"}, want: "--stack is required"},
		{name: "status with a bad output", args: []string{"status", "--stack", s.Name, "--output", "yaml"}, want: "want table or json"},
		{name: "status of a missing stack", args: []string{"status", "--stack", "no-such-stack"}, want: "no-such-stack"},
	}
	runUsageCases(t, tests, aws...)
}

// TestUploadVendors: upload puts each vendor's manifest into that
// vendor's bucket, found from the content or --vendor, and says which.
func TestUploadVendors(t *testing.T) {
	isolateAWS(t)
	s := stacktest.New(t, "tp-cliv", stacktest.Options{})
	aws := []string{"--endpoint-url", s.Moto.URL}
	tests := []struct {
		name   string
		path   string
		args   []string
		key    string
		vendor stack.Vendor
	}{
		// --force: the mixed samples hold no valid device (the check says so).
		{name: "microchip detected", path: mixedMicrochip, args: []string{"--force"}, key: "mixed.json", vendor: stack.VendorMicrochip},
		{name: "espressif detected", path: mixedEspressif, key: "mixed.csv", vendor: stack.VendorEspressif},
		{name: "generated named", path: mixedGenerated, args: []string{"--vendor", "Generated", "--key", "in/certs.txt"}, key: "in/certs.txt", vendor: stack.VendorGenerated},
		{name: "infineon reel by its suffix", path: mustWrite(t, "random.7z", "not yet a reel"), args: []string{"--force"}, key: "random.7z", vendor: stack.VendorInfineon},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"upload", "--stack", s.Name}, tc.args...), append([]string{tc.path}, aws...)...)
			out, stderr, code := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("upload: exit %d: %s", code, stderr)
			}
			bucket := s.Buckets[tc.vendor]
			if !strings.Contains(out, "s3://"+bucket+"/"+tc.key) || !strings.Contains(out, "Bucket: "+bucket+", the stack's "+string(tc.vendor)+" bucket") {
				t.Errorf("upload output:\n%s", out)
			}
			if ev, _ := s.ObjectCreatedEventIn(t, bucket, tc.key); len(ev.Records) != 1 {
				t.Errorf("no event for the upload: %+v", ev)
			}
		})
	}
}

// mustWrite writes data to a file name in a new directory and returns its
// path.
func mustWrite(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
