package main

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string // -o and -ca-out are added
		needs7z bool
		wantErr bool
		wantBad int
	}{
		{name: "xml", args: []string{"-n", "5", "-format", "xml"}},
		{name: "xml with bad devices", args: []string{"-n", "5", "-format", "xml", "-bad", "-slots", "E0E0"}, wantBad: len(testbundle.BadCases)},
		{name: "infineon with bad devices", args: []string{"-n", "5", "-bad"}, needs7z: true, wantBad: len(testbundle.BadCases)},
		{name: "unknown format", args: []string{"-format", "json"}, wantErr: true},
		{name: "unknown slot", args: []string{"-format", "xml", "-slots", "E0E0,F000"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs7z {
				testbundle.Require7z(t)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "manifest")
			var stderr bytes.Buffer
			err := run(append([]string{"-o", out}, tc.args...), &stderr)
			if (err != nil) != tc.wantErr {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if tc.wantErr {
				return
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				t.Fatalf("no manifest: %v", err)
			}
			ca, err := os.ReadFile(out + ".ca.pem")
			if err != nil {
				t.Fatal(err)
			}
			want := 2 // root and intermediate
			if tc.wantBad > 0 {
				want = 4 // and the expired and the non-CA intermediate
			}
			if n := bytes.Count(ca, []byte("BEGIN CERTIFICATE")); n != want {
				t.Errorf("CA file holds %d certificates, want %d", n, want)
			}
			if blk, _ := pem.Decode(ca); blk == nil {
				t.Error("CA file is not PEM")
			}
			if n := strings.Count(stderr.String(), "bad device "); n != tc.wantBad {
				t.Errorf("%d bad devices listed, want %d:\n%s", n, tc.wantBad, stderr.String())
			}
		})
	}
}

func TestRunNeedsOutput(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(nil, &stderr); err == nil {
		t.Error("no error without -o")
	}
}

func TestRunCorpus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	var stderr bytes.Buffer
	if err := run([]string{"-corpus", dir}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	xmls, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	if len(xmls) != len(testbundle.BadCases) {
		t.Errorf("%d XML manifests, want %d", len(xmls), len(testbundle.BadCases))
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil || bytes.Count(ca, []byte("BEGIN CERTIFICATE")) != 4 {
		t.Errorf("CA file: %v, want 4 certificates", err)
	}
	if err := run([]string{"-corpus", dir, "-o", "x"}, &stderr); err == nil {
		t.Error("-corpus with -o: no error")
	}
	if err := run([]string{"-o", filepath.Join(t.TempDir(), "m"), "-format", "xml", "-curve", "p224"}, &stderr); err == nil {
		t.Error("-curve p224: no error")
	}
}
