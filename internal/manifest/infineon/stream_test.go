package infineon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bodgit/sevenzip"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

const (
	testReel  = "0123456789ABCDEF"
	testBatch = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
)

func testChip(i int) string { return fmt.Sprintf("0A091B5C%012X", i) }

// readResult is what a reader yields: its records, its warnings and how
// it ended.
type readResult struct {
	recs []manifest.Record
	logs string
	err  error // nil after io.EOF
}

// readRes reads every record of the bundle at path, with the logs.
func readRes(t *testing.T, path string, opts manifest.Options) readResult {
	t.Helper()
	var logs bytes.Buffer
	opts.TempDir = t.TempDir()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := Open(t.Context(), path, opts)
	if err != nil {
		return readResult{logs: logs.String(), err: err}
	}
	defer r.Close()
	var res readResult
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.err = err
			break
		}
		res.recs = append(res.recs, rec)
	}
	res.logs = logs.String()
	return res
}

// x86Code returns n bytes of x86-64 machine code (from the test binary),
// for the BCJ filter to work on: E8 and E9 instructions with targets.
func x86Code(t *testing.T, n int) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2*n {
		t.Fatalf("test binary of %d bytes", len(b))
	}
	return b[len(b)/4 : len(b)/4+n]
}

// branchy returns n random bytes rich in what the BCJ filter looks at:
// E8/E9 opcodes close together and 00/FF bytes.
func branchy(rnd *rand.Rand, n int) []byte {
	alphabet := []byte{0xE8, 0xE9, 0x00, 0xFF, 0x0F, 0x80, 0x12}
	b := make([]byte, n)
	for i := range b {
		if rnd.IntN(3) == 0 {
			b[i] = byte(rnd.Uint32())
		} else {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
	}
	return b
}

// testFiles are inner archive members for the comparisons: PEM files,
// members a reader skips (directories, other names, another slot), empty
// ones, and binary data under .pem names for BCJ.
func testFiles(t *testing.T) []testbundle.File {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	code := x86Code(t, 1<<20)
	var files []testbundle.File
	add := func(name string, data []byte) {
		files = append(files, testbundle.File{Name: name, Data: data})
	}
	for i := range 20 {
		add(testChip(i)+"_E0E0.pem", []byte("-----BEGIN CERTIFICATE-----\r\n"+testChip(i)+"\r\n-----END CERTIFICATE-----\r\n"))
	}
	add("README.txt", []byte("not a certificate"))
	add(testChip(100)+"_E0E1.pem", []byte("other slot"))
	add("emptydir/", nil)
	add("sub/"+testChip(101)+"_E0E0.pem", []byte("in a directory"))
	add(testChip(102)+"_E0E0.pem", nil)      // empty
	add(testChip(103)+"_E0E0.pem", []byte{}) // empty too
	add(testChip(104)+"_E0E0.pem", code[:300_000])
	for i, n := range []int{1, 2, 3, 4, 5, 6, 7, 9, 4095, 4096, 4097, 65_537} {
		add(testChip(200+i)+"_E0E0.pem", branchy(rnd, n))
	}
	add(testChip(300)+"_E0E0.pem", code[300_000:700_000])
	add(testChip(301)+"_E0E0.pem", bytes.Repeat([]byte{0xE8, 0, 0, 0, 0}, 1000))
	add("zz-last.bin", code[700_000:]) // data after the last record
	return files
}

// bundleOf makes a bundle whose E0E0 Certs archive is files packed by 7z
// with the switches args.
func bundleOf(t *testing.T, files []testbundle.File, args ...string) string {
	t.Helper()
	testbundle.Require7z(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	var names []string
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(f.Name))
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, strings.TrimSuffix(f.Name, "/"))
	}
	inner := filepath.Join(dir, "inner.7z")
	if err := generate.Run7z(src, inner, generate.ArchiveOptions{Args: args}, names...); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(inner)
	if err != nil {
		t.Fatal(err)
	}
	return testbundle.Write(t, dir, testbundle.Spec{Members: []testbundle.Member{
		{Name: testReel + "_" + testBatch + "_E0E0_Certs.7z", Data: data},
		{Name: "README.txt", Data: []byte("Dear User,\r\n")},
	}})
}

// TestCoderChains reads inner archives that 7z makes with the coder
// chains and layouts 7-Zip writes: every record must hold what went in,
// and every member skipped must be logged.
func TestCoderChains(t *testing.T) {
	files := testFiles(t)
	tests := []struct {
		name string
		args []string
	}{
		{name: "store", args: []string{"-mx=0"}},
		{name: "LZMA", args: []string{"-m0=LZMA"}},
		{name: "LZMA2", args: []string{"-m0=LZMA2"}},
		{name: "BCJ+LZMA2", args: []string{"-mf=BCJ"}},
		{name: "BCJ+LZMA", args: []string{"-m0=LZMA", "-mf=BCJ"}},
		{name: "BCJ+store", args: []string{"-mx=0", "-mf=BCJ"}},
		{name: "BCJ+LZMA2 as Infineon's", args: []string{"-mx=9", "-mf=BCJ"}},
		{name: "not solid", args: []string{"-ms=off"}},
		{name: "not solid BCJ", args: []string{"-ms=off", "-mf=BCJ"}},
		{name: "not solid store", args: []string{"-ms=off", "-mx=0"}},
		{name: "blocks of 3 files", args: []string{"-ms=3f", "-mf=BCJ"}},
		{name: "blocks of 64 KiB", args: []string{"-ms=64k", "-m0=LZMA"}},
		{name: "plain header", args: []string{"-mhc=off"}},
		{name: "all times", args: []string{"-mtc=on", "-mta=on"}},
		{name: "no times", args: []string{"-mtm=off"}},
		{name: "PPMd", args: []string{"-m0=PPMd"}},
		{name: "BZip2", args: []string{"-m0=BZip2"}},
		{name: "Delta", args: []string{"-mf=Delta:4"}},
	}
	want := map[string][]byte{}
	for _, f := range files {
		if m := pemName.FindStringSubmatch(filepath.Base(f.Name)); m != nil && m[2] == "E0E0" {
			want[f.Name] = f.Data
		}
	}
	opts := manifest.Options{Limits: manifest.Limits{MaxEntryBytes: 1 << 20}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := bundleOf(t, files, tc.args...)
			stream := readRes(t, path, opts)
			if stream.err != nil {
				t.Fatal(stream.err)
			}
			for _, skipped := range []string{"emptydir/", "README.txt", "zz-last.bin", testChip(100) + "_E0E1.pem"} {
				if !strings.Contains(stream.logs, "entry="+skipped+" ") {
					t.Errorf("no warning for %s in\n%s", skipped, stream.logs)
				}
			}
			// And the data is what went in.
			for _, rec := range stream.recs {
				if w, ok := want[rec.Entry]; !ok || !bytes.Equal(rec.Data, w) || rec.Problem != nil {
					t.Errorf("%s: %d bytes (problem %v) differ from the %d put in", rec.Entry, len(rec.Data), rec.Problem, len(w))
				}
			}
			if len(stream.recs) != len(want) {
				t.Errorf("%d records, want %d", len(stream.recs), len(want))
			}
		})
	}
}

// TestLimits checks the caps hold: an oversize entry is a record's Problem, more bytes than
// MaxTotalBytes or members than MaxEntries end the reading.
func TestLimits(t *testing.T) {
	files := testFiles(t)
	path := bundleOf(t, files, "-mf=BCJ", "-ms=3f")
	over := func(limit int) int { // records over limit bytes
		n := 0
		for _, f := range files {
			if pemName.MatchString(filepath.Base(f.Name)) && strings.Contains(f.Name, "E0E0") && len(f.Data) > limit {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name     string
		limits   manifest.Limits
		want     error // of Open or Next
		problems int   // records with a Problem
	}{
		{name: "defaults", problems: over(64 << 10)},
		{name: "entry limit", limits: manifest.Limits{MaxEntryBytes: 5000}, problems: over(5000)},
		{name: "entry limit of one byte", limits: manifest.Limits{MaxEntryBytes: 1}, problems: over(1)},
		{name: "total limit below the declared sizes", limits: manifest.Limits{MaxTotalBytes: 1 << 20}, want: manifest.ErrTooLarge},
		{name: "member limit", limits: manifest.Limits{MaxEntries: 30}, want: manifest.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := readRes(t, path, manifest.Options{Limits: tc.limits})
			if !errors.Is(stream.err, tc.want) || (tc.want == nil) != (stream.err == nil) {
				t.Fatalf("error %v, want %v", stream.err, tc.want)
			}
			problems := 0
			for _, rec := range stream.recs {
				if rec.Problem != nil {
					problems++
					if !errors.Is(rec.Problem, manifest.ErrTooLarge) || rec.Data != nil {
						t.Errorf("record %s: problem %v, %d bytes", rec.Entry, rec.Problem, len(rec.Data))
					}
				}
			}
			if problems != tc.problems {
				t.Errorf("%d records with a problem, want %d", problems, tc.problems)
			}
		})
	}
}

// innerArchive returns the bytes of the first Certs archive in the bundle at path.
func innerArchive(t *testing.T, path string) []byte {
	t.Helper()
	zr, err := sevenzip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if innerName.MatchString(f.Name) {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s holds no Certs archive", path)
	return nil
}

// TestDamage flips bytes in the packed data of a stored and of a
// compressed inner archive (fixing no CRC): the reading must fail with
// ErrMalformed naming the file and the member.
func TestDamage(t *testing.T) {
	files := testFiles(t)[:25]
	for _, args := range [][]string{{"-mx=0", "-mhc=off"}, {"-mf=BCJ"}, {"-m0=LZMA"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			path := bundleOf(t, files, args...)
			dir := t.TempDir()
			// The inner archive, damaged, in a stored outer archive.
			inner := innerArchive(t, path)
			packed, _ := splitArchive(inner)
			for _, at := range []int{0, 100, len(packed) / 2, len(packed) - 3} {
				bad := bytes.Clone(inner)
				bad[32+at] ^= 0x55
				p := testbundle.Write(t, dir, testbundle.Spec{Name: fmt.Sprintf("bad%d.7z", at), Level: -1,
					Members: []testbundle.Member{{Name: testReel + "_" + testBatch + "_E0E0_Certs.7z", Data: bad}}})
				stream := readRes(t, p, manifest.Options{})
				if !errors.Is(stream.err, manifest.ErrMalformed) {
					t.Errorf("byte %d: error %v, want ErrMalformed", at, stream.err)
				}
				var me *manifest.Error
				if !errors.As(stream.err, &me) || me.File != p || me.Entry == "" {
					t.Errorf("byte %d: error %v names no file and entry", at, stream.err)
				}
			}
		})
	}
}

// TestShortDeltaStream: a member whose Delta-filtered stream is shorter
// than its header declares ends the reading as malformed; the library's
// Delta decoder alone would answer "nothing yet" for ever.
func TestShortDeltaStream(t *testing.T) {
	name := testChip(1) + "_E0E0.pem"
	var names []byte
	for _, c := range name + "\x00" {
		names = append(names, byte(c), 0)
	}
	header := []byte{idHeader, idMainStreamsInfo,
		idPackInfo, 0, 1, idSize, 10, idEnd,
		idUnpackInfo, idFolder, 1, 0, 1, 0x21, 0x03, 1, 0, idCodersUnpackSize, 100, idEnd, idEnd,
		idFilesInfo, 1, idName, byte(1 + len(names)), 0}
	header = append(append(header, names...), idEnd, idEnd)
	inner := archive7z(t, make([]byte, 10), header)
	certs := testReel + "_" + testBatch + "_E0E0_Certs.7z"
	path := testbundle.Write(t, t.TempDir(), testbundle.Spec{Members: []testbundle.Member{{Name: certs, Data: inner}}})
	done := make(chan readResult, 1)
	go func() { done <- readRes(t, path, manifest.Options{}) }()
	select {
	case res := <-done:
		if !errors.Is(res.err, manifest.ErrMalformed) || len(res.recs) != 0 {
			t.Fatalf("read %d records, error %v; want a malformed member", len(res.recs), res.err)
		}
		t.Log(res.err)
	case <-time.After(20 * time.Second):
		t.Fatal("still reading after 20 s")
	}
}
