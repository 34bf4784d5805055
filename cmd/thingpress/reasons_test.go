package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestInspectReasons runs inspect on the manifests of the readers'
// testdata that cannot be read: each must exit 2 with the reader's
// reason on one line.
func TestInspectReasons(t *testing.T) {
	infineon := filepath.Join("..", "..", "internal", "manifest", "infineon", "testdata", "reasons")
	certs := "0123456789ABCDEF_3f2504e0-4f89-41d3-9a0c-0305e82c3301_E0E0_Certs.7z"
	xml := filepath.Join("..", "..", "internal", "manifest", "xmlmanifest", "testdata", "reasons")
	const utf8Only = ": not supported: only UTF-8 manifests are read (convert it first, e.g. with iconv -t UTF-8)"
	tests := []struct {
		file   string
		reason string
	}{
		{filepath.Join(xml, "utf16le-bom.xml"), "text encoding UTF-16LE (byte order mark FF FE)" + utf8Only},
		{filepath.Join(xml, "utf16be-bom.xml"), "text encoding UTF-16BE (byte order mark FE FF)" + utf8Only},
		{filepath.Join(xml, "utf16le-declared.xml"), "text encoding UTF-16LE (no byte order mark)" + utf8Only},
		{filepath.Join(xml, "utf8-declared-utf16.xml"), `encoding "UTF-16" declared: not supported: only UTF-8 manifests are read`},
		{filepath.Join(infineon, "inner-deflate64.7z"), certs + ": 7z compression method Deflate64 (040109): not supported"},
		{filepath.Join(infineon, "inner-armt.7z"), certs + ": 7z compression method ARMT (03030701): not supported"},
		{filepath.Join(infineon, "outer-deflate64.7z"), "outer archive: 7z compression method Deflate64 (040109): not supported"},
		{filepath.Join(infineon, "inner-not-7z.7z"), certs + `: inner archive is not a 7z archive (it starts "PK\x03\x04 a"): malformed manifest`},
		{filepath.Join(infineon, "inner-encrypted.7z"), certs + ": 7z archive is encrypted (thingpress reads no password): manifest is encrypted"},
		{filepath.Join(infineon, "outer-many-members.7z"), "outer archive: 7z header: more than 4096 files with data: manifest exceeds a size limit"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "inspect", "--no-verify-chain", tc.file)
			if code != exitFatal {
				t.Errorf("exit %d, want %d\n%s%s", code, exitFatal, stdout, stderr)
			}
			if want := "thingpress: " + tc.file + ": " + tc.reason + "\n"; stderr != want {
				t.Errorf("stderr\n %q\nwant\n %q", stderr, want)
			}
			// The same with the format given, not detected.
			format := "xml"
			if filepath.Ext(tc.file) == ".7z" {
				format = "infineon"
			}
			stdout, stderr, code = runCLI(t, "inspect", "--no-verify-chain", "--format", format, tc.file)
			if code != exitFatal {
				t.Errorf("exit %d, want %d\n%s%s", code, exitFatal, stdout, stderr)
			}
			if want := "thingpress: " + tc.file + ": " + tc.reason + "\n"; stderr != want {
				t.Errorf("stderr\n %q\nwant\n %q", stderr, want)
			}
		})
	}
}

// TestImportDamagedState runs import with a damaged --state file: exit 2
// and one line that names the file and says how to go on, for the import
// and for a dry run.
func TestImportDamagedState(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 3, false)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.state")
	if _, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--state", good, path)...); code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		detail string
	}{
		{"truncated", b[:len(b)/4], ""},
		{"garbage", bytes.Repeat([]byte("not a state file "), 1000), " (invalid database)"},
		{"meta pages zeroed", append(make([]byte, 8192), b[8192:]...), " (invalid database)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "damaged.state")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, extra := range [][]string{nil, {"--dry-run"}} {
				args := importArgs(e, append(extra, "--trust", trustFile, "--state", p, path)...)
				stdout, stderr, code := runCLI(t, args...)
				t.Logf("%v: %s", extra, stderr)
				if code != exitFatal {
					t.Errorf("%v: exit %d, want %d\n%s%s", extra, code, exitFatal, stdout, stderr)
				}
				prefix := "thingpress: state file is damaged: " + p
				suffix := "; delete it, or pass --state a new file, and run again: the import is idempotent without it\n"
				if !strings.HasPrefix(stderr, prefix) || !strings.HasSuffix(stderr, suffix) ||
					strings.Count(stderr, "\n") != 1 || tc.detail != "" && stderr != prefix+tc.detail+suffix {
					t.Errorf("%v: stderr %q, want one line %q...%q", extra, stderr, prefix+tc.detail, suffix)
				}
			}
		})
	}
	// And as it says: with a new --state file the import goes on, finding
	// every device already there.
	if _, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--state", filepath.Join(dir, "new.state"), path)...); code != exitOK {
		t.Fatalf("import with a new state file: exit %d\n%s", code, stderr)
	}
}
