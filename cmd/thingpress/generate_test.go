package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// generateSeed fixes the IDs and names of the manifests
// TestGenerateInspect makes, so its golden files hold.
const generateSeed = "golden"

// unstable matches what differs from run to run in inspect's reasons
// even under a seed: line numbers (PEM lengths vary with the signatures)
// and a fresh signer's kid and x5t#S256.
var unstable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\(line \d+\)`), "(line N)"},
	{regexp.MustCompile(`for kid \S+ and x5t#S256 \S+`), "for kid KID and x5t#S256 X5T"},
}

// TestGenerateInspect generates each format with invalid devices and runs
// the inspect command generate prints: every valid device must be ok and
// every invalid one invalid, for the reasons of the golden file.
func TestGenerateInspect(t *testing.T) {
	tests := []struct {
		vendor  string
		args    []string
		devices int
		invalid int
		files   []string
	}{
		{vendor: "infineon", args: []string{"--slots", "E0E0"}, devices: 36, invalid: 32, files: []string{"reel.7z", "ca.pem"}},
		{vendor: "xml", devices: 36, invalid: 32, files: []string{"manifest.xml", "ca.pem"}},
		{vendor: "microchip", devices: 14, invalid: 10, files: []string{"manifest.json", "ca.pem", "signer.pem"}},
		{vendor: "espressif", devices: 10, invalid: 7, files: []string{"manifest.csv", "ca.pem"}},
		{vendor: "generated", devices: 10, invalid: 6, files: []string{"certificates.txt", "ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.vendor, func(t *testing.T) {
			if tt.vendor == "infineon" {
				testbundle.Require7z(t)
			}
			dir := filepath.Join(t.TempDir(), "out")
			args := append([]string{"generate", "--vendor", tt.vendor, "--devices", strconv.Itoa(tt.devices), "--invalid", strconv.Itoa(tt.invalid),
				"--seed", generateSeed, "--out", dir}, tt.args...)
			out, stderr, code := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("generate: exit %d\n%s%s", code, out, stderr)
			}
			for _, f := range tt.files {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
					t.Errorf("%s not written: %v", f, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "signer.pem")); (err == nil) != (tt.vendor == "microchip") {
				t.Errorf("signer.pem: %v", err)
			}
			if !strings.Contains(out, strconv.Itoa(tt.devices)+" devices ("+strconv.Itoa(tt.devices-tt.invalid)+" valid, "+strconv.Itoa(tt.invalid)+" invalid)") {
				t.Errorf("generate's summary does not give the counts:\n%s", out)
			}
			cmd := printedCommand(t, out, "inspect")
			table, stderr, code := runCLI(t, cmd...)
			if code != exitSomeDevices {
				t.Fatalf("%v: exit %d, want %d\n%s%s", cmd, code, exitSomeDevices, table, stderr)
			}
			if want := "Devices   " + strconv.Itoa(tt.devices) + ": " + strconv.Itoa(tt.devices-tt.invalid) + " ok, " + strconv.Itoa(tt.invalid) + " invalid"; !strings.Contains(table, want) {
				t.Errorf("table does not say %q:\n%s", want, table)
			}
			js, _, _ := runCLI(t, append(cmd[:len(cmd)-1:len(cmd)-1], "--output", "json", cmd[len(cmd)-1])...)
			ok, invalid, _, recs := statuses(t, js)
			if ok != tt.devices-tt.invalid || invalid != tt.invalid || len(recs) != tt.devices {
				t.Fatalf("%d ok, %d invalid of %d; want %d, %d", ok, invalid, len(recs), tt.devices-tt.invalid, tt.invalid)
			}
			// The valid devices come first, then the invalid ones.
			for i, r := range recs {
				if want := i < ok; (r.Status == inspect.StatusOK) != want {
					t.Errorf("device %d (%s): %s, want ok=%v", i+1, r.Entry, r.Status, want)
				}
			}
			var b strings.Builder
			for _, r := range recs {
				line := strings.Join([]string{r.Entry, r.ChipID, r.ThingName, r.Status, r.Error}, "\t")
				for _, u := range unstable {
					line = u.re.ReplaceAllString(line, u.with)
				}
				b.WriteString(line + "\n")
			}
			checkGolden(t, filepath.Join("testdata", "generate", tt.vendor+".golden"), b.String())
		})
	}
}

// checkGolden compares got with the golden file, or rewrites it with
// -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (-update rewrites it):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestGenerateFlags checks that bad flags are refused before anything is
// written.
func TestGenerateFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no vendor", args: nil, wantErr: "--vendor is required"},
		{name: "unknown vendor", args: []string{"--vendor", "nxp"}, wantErr: `--vendor "nxp"`},
		{name: "no devices", args: []string{"--vendor", "xml", "--devices", "0"}, wantErr: "--devices 0"},
		{name: "too many devices", args: []string{"--vendor", "xml", "--devices", "10000001"}, wantErr: "--devices 10000001"},
		{name: "all invalid", args: []string{"--vendor", "xml", "--devices", "3", "--invalid", "3"}, wantErr: "--invalid 3: want 0 to 2"},
		{name: "negative invalid", args: []string{"--vendor", "xml", "--invalid", "-1"}, wantErr: "--invalid -1"},
		{name: "slots for microchip", args: []string{"--vendor", "microchip", "--slots", "E0E0"}, wantErr: "--slots applies to Infineon formats only"},
		{name: "bad slot", args: []string{"--vendor", "xml", "--slots", "E0E0,F000"}, wantErr: `"F000"`},
		{name: "bad curve", args: []string{"--vendor", "xml", "--curve", "p224"}, wantErr: `--curve "p224"`},
		{name: "argument", args: []string{"--vendor", "xml", "extra"}, wantErr: "generate takes no arguments"},
		{name: "not a number", args: []string{"--vendor", "xml", "--devices", "ten"}, wantErr: "--devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			out, stderr, code := runCLI(t, append([]string{"generate", "--out", dir}, tt.args...)...)
			if code != exitFatal {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitFatal, out, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not say %q", stderr, tt.wantErr)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s made despite the bad flags", dir)
			}
		})
	}
}

// TestGenerateKeepsFiles checks that generate does not overwrite a
// manifest or CA file already there.
func TestGenerateKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "generate", "--vendor", "generated", "--out", dir)
	if code != exitFatal || !strings.Contains(stderr, ca+" already exists") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(ca); string(b) != "mine" {
		t.Errorf("ca.pem overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "certificates.txt")); err == nil {
		t.Errorf("manifest written")
	}
}

// TestGenerateHelp checks that --help names every format generate writes.
func TestGenerateHelp(t *testing.T) {
	out, _, code := runCLI(t, "generate", "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range generate.Formats {
		if !strings.Contains(out, "  "+f+" ") {
			t.Errorf("--help does not describe %s", f)
		}
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "/tmp/out/ca.pem", want: "/tmp/out/ca.pem"},
		{in: "my dir/ca.pem", want: "'my dir/ca.pem'"},
		{in: "it's", want: `'it'\''s'`},
		{in: "", want: "''"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// printedCommand returns the arguments of the thingpress command line
// generate printed that starts with name.
func printedCommand(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "thingpress "+name+" "); ok {
			return append([]string{name}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("generate printed no %s command:\n%s", name, out)
	return nil
}

// TestGenerateImport runs the import command generate prints, against
// moto behind the proxy: every valid device becomes a complete Thing and
// every invalid one is skipped, in every format.
func TestGenerateImport(t *testing.T) {
	for _, vendor := range generate.Formats {
		t.Run(vendor, func(t *testing.T) {
			extra := []string{}
			if vendor == generate.FormatInfineon {
				testbundle.Require7z(t)
				extra = []string{"--slots", "E0E0"}
			}
			isolateAWS(t)
			e := iottest.New(t, iotproxy.Config{})
			dir := filepath.Join(t.TempDir(), "out")
			out, stderr, code := runCLI(t, append([]string{"generate", "--vendor", vendor, "--devices", "8", "--invalid", "3", "--out", dir}, extra...)...)
			if code != exitOK {
				t.Fatalf("generate: exit %d\n%s", code, stderr)
			}
			inspectArgs := printedCommand(t, out, "inspect")
			js, _, _ := runCLI(t, append(inspectArgs[:len(inspectArgs)-1:len(inspectArgs)-1], "--output", "json", inspectArgs[len(inspectArgs)-1])...)
			var devs []iottest.Device
			for _, r := range readJSONL(t, js) {
				if r.Status == inspect.StatusOK {
					devs = append(devs, iottest.Device{ThingName: r.ThingName, ChipID: r.ChipID, ReelID: r.ReelID})
				}
			}
			if len(devs) != 5 {
				t.Fatalf("%d valid devices, want 5", len(devs))
			}
			args := printedCommand(t, out, "import")
			if i := slices.Index(args, "POLICY"); i < 0 {
				t.Fatalf("import command %v has no POLICY placeholder", args)
			} else {
				args[i] = iottest.Policy
			}
			reportPath := filepath.Join(t.TempDir(), "report.jsonl")
			args = append(args[:1:1], append([]string{"--endpoint-url", e.Proxy.URL(), "--thing-type", iottest.ThingType,
				"--thing-group", iottest.Group, "--progress", "none", "--report", reportPath}, args[1:]...)...)
			out, stderr, code = runCLI(t, args...)
			if code != exitSomeDevices {
				t.Fatalf("import: exit %d, want %d (3 skipped)\n%s%s", code, exitSomeDevices, out, stderr)
			}
			if _, sum := readReport(t, reportPath); sum.Imported != 5 || sum.Skipped != 3 || sum.Failed != 0 {
				t.Errorf("summary %+v, want 5 imported, 3 skipped", sum)
			}
			e.AssertComplete(t, devs)
		})
	}
}
