package infineon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// reasonCases are the bundles of testdata/reasons, each with what Open
// says of it; cmd/thingpress checks that inspect prints the same. Each
// bundle is made by its spec (go test -update remakes them with 7z).
var reasonCases = []struct {
	file string
	spec func() testbundle.Spec
	want error
	// reason is the whole error, after "testdata/reasons/FILE: ".
	reason string
}{
	{
		file:   "inner-deflate64.7z",
		spec:   func() testbundle.Spec { return withArgs(bundle(2, "E0E0"), "-m0=Deflate64") },
		want:   manifest.ErrUnsupported,
		reason: certsName("E0E0") + ": 7z compression method Deflate64 (040109): not supported",
	},
	{
		file:   "inner-armt.7z",
		spec:   func() testbundle.Spec { return withArgs(bundle(2, "E0E0"), "-mf=ARMT") },
		want:   manifest.ErrUnsupported,
		reason: certsName("E0E0") + ": 7z compression method ARMT (03030701): not supported",
	},
	{
		file: "outer-deflate64.7z",
		spec: func() testbundle.Spec {
			s := bundle(2, "E0E0")
			s.Args = []string{"-m0=Deflate64"}
			return s
		},
		want:   manifest.ErrUnsupported,
		reason: "outer archive: 7z compression method Deflate64 (040109): not supported",
	},
	{
		file: "inner-not-7z.7z",
		spec: func() testbundle.Spec {
			return testbundle.Spec{Members: []testbundle.Member{
				{Name: certsName("E0E0"), Data: []byte("PK\x03\x04 a zip file, or anything but 7z")},
				{Name: "README.txt", Data: []byte("Dear User,\r\n")},
			}}
		},
		want:   manifest.ErrMalformed,
		reason: certsName("E0E0") + `: inner archive is not a 7z archive (it starts "PK\x03\x04 a"): malformed manifest`,
	},
	{
		file: "inner-encrypted.7z",
		spec: func() testbundle.Spec {
			s := bundle(2, "E0E0")
			s.Members[0].Password = "SECRET"
			return s
		},
		want:   manifest.ErrEncrypted,
		reason: certsName("E0E0") + ": 7z archive is encrypted (thingpress reads no password): manifest is encrypted",
	},
	{
		file: "outer-many-members.7z",
		spec: func() testbundle.Spec {
			s := bundle(1, "E0E0")
			for i := range manifest.DefaultLimits.MaxMembers {
				s.Members = append(s.Members, testbundle.Member{Name: fmt.Sprintf("m/%04d", i), Data: []byte{'x'}})
			}
			return s
		},
		want:   manifest.ErrTooLarge,
		reason: "outer archive: 7z header: more than 4096 files with data: manifest exceeds a size limit",
	},
}

// withArgs makes every inner archive of s with the 7z switches args.
func withArgs(s testbundle.Spec, args ...string) testbundle.Spec {
	for i := range s.Members {
		s.Members[i].Args = args
	}
	return s
}

func TestReasons(t *testing.T) {
	for _, tc := range reasonCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "reasons", tc.file)
			if manifesttest.Update() {
				s := tc.spec()
				s.Name = tc.file
				built := testbundle.Write(t, t.TempDir(), s)
				b, err := os.ReadFile(built)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tmp := t.TempDir()
			r, _, err := readAll(t, path, manifest.Options{TempDir: tmp, Logger: quiet()})
			if r != nil {
				r.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if got, want := err.Error(), path+": "+tc.reason; got != want {
				t.Errorf("error\n %s\nwant\n %s", got, want)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("temp files left behind: %v", left)
			}
		})
	}
}

// TestReadsOtherMethods reads bundles whose inner archive uses a method
// other than 7-Zip's default: they are not unsupported.
func TestReadsOtherMethods(t *testing.T) {
	testbundle.Require7z(t)
	for _, m := range []string{"PPMd", "BZip2", "Deflate"} {
		t.Run(m, func(t *testing.T) {
			s := withArgs(bundle(3, "E0E0"), "-m0="+m)
			p := testbundle.Write(t, t.TempDir(), s)
			_, recs, err := readAll(t, p, manifest.Options{TempDir: t.TempDir(), Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || string(recs[2].Data) != string(fakePEM(chip(2), "E0E0")) {
				t.Fatalf("read %d records: %+v", len(recs), recs)
			}
		})
	}
}

// TestOpenStops cancels Open while it spools a 256 MiB inner
// archive: it must return at once with the context's error and remove
// the temporary file.
func TestOpenStops(t *testing.T) {
	testbundle.Require7z(t)
	if runtime.GOOS != "linux" {
		t.Skip("sees the spool file in /proc")
	}
	p := filepath.Join(t.TempDir(), "big.7z")
	if err := testbundle.WriteBigBundle(p, 256<<20); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var cancelled time.Time
	go func() {
		for {
			if testbundle.Spool(os.Getpid(), tmp) != "" {
				time.Sleep(100 * time.Millisecond)
				cancelled = time.Now()
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r, err := infineon.Open(ctx, p, manifest.Options{TempDir: tmp, Logger: quiet()})
	if err == nil {
		r.Close()
		t.Fatal("Open read the whole archive before it was cancelled")
	}
	if took := time.Since(cancelled); took > 500*time.Millisecond {
		t.Errorf("Open returned %v after the cancel", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

// TestNotSevenZipBeforeSpooling: a Certs member of 128 MiB that is not a
// 7z archive fails on its first bytes, without a temporary file, not
// after it is spooled (about a second).
func TestNotSevenZipBeforeSpooling(t *testing.T) {
	testbundle.Require7z(t)
	dir := t.TempDir()
	name := certsName("E0E0")
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil { // sparse zeros
		t.Fatal(err)
	}
	f.Close()
	p := filepath.Join(t.TempDir(), "zeros.7z")
	if err := generate.Run7z(dir, p, generate.ArchiveOptions{Level: 1}, name); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	start := time.Now()
	_, err = infineon.Open(t.Context(), p, manifest.Options{TempDir: tmp, Logger: quiet()})
	took := time.Since(start)
	want := p + ": " + name + `: inner archive is not a 7z archive (it starts "\x00\x00\x00\x00\x00\x00"): malformed manifest`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n %v\nwant\n %s", err, want)
	}
	if took > 500*time.Millisecond {
		t.Errorf("Open took %v: it spooled the member before checking it", took)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}
