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
	"testing/iotest"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testbundle"
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

// readVia reads every record of the bundle at path, through a memberStream
// or through the 7z library, and checks the path taken.
func readVia(t *testing.T, path string, opts manifest.Options, viaLib, wantStream bool) readResult {
	t.Helper()
	var logs bytes.Buffer
	opts.TempDir = t.TempDir()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	r, err := openBundle(t.Context(), path, opts, viaLib)
	if err != nil {
		return readResult{logs: logs.String(), err: err}
	}
	defer r.Close()
	if got := r.st != nil; got != (wantStream && !viaLib) {
		t.Errorf("read by a memberStream: %v, want %v", got, wantStream && !viaLib)
	}
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

// sameRecords compares what the memberStream and the 7z library read.
func sameRecords(t *testing.T, stream, lib readResult) {
	t.Helper()
	if (stream.err == nil) != (lib.err == nil) || stream.err != nil && stream.err.Error() != lib.err.Error() {
		t.Errorf("memberStream ends with %v, the library with %v", stream.err, lib.err)
	}
	if len(stream.recs) != len(lib.recs) {
		t.Fatalf("memberStream yields %d records, the library %d", len(stream.recs), len(lib.recs))
	}
	for i, s := range stream.recs {
		l := lib.recs[i]
		if s.Entry != l.Entry || s.ChipID != l.ChipID || s.Slot != l.Slot || s.ReelID != l.ReelID ||
			s.BatchID != l.BatchID || s.Encoding != l.Encoding || !bytes.Equal(s.Data, l.Data) ||
			fmt.Sprint(s.Problem) != fmt.Sprint(l.Problem) {
			t.Errorf("record %d:\nmemberStream %+v\nlibrary      %+v", i, s, l)
		}
	}
	if stream.logs != lib.logs {
		t.Errorf("warnings differ:\nmemberStream:\n%s\nlibrary:\n%s", stream.logs, lib.logs)
	}
}

// TestStreamRealSample reads Infineon's sample both ways: BCJ + LZMA2,
// solid, with an LZMA-encoded header.
func TestStreamRealSample(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "shared", "fixtures", "infineon", "manifest-infineon.7z")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sample bundle missing: %v", err)
		}
		t.Skipf("sample bundle missing: %v", err)
	}
	for _, slot := range manifest.Slots {
		t.Run(slot, func(t *testing.T) {
			opts := manifest.Options{Slot: slot}
			stream := readVia(t, path, opts, false, true)
			lib := readVia(t, path, opts, true, true)
			if stream.err != nil || len(stream.recs) != 200 {
				t.Fatalf("%d records, error %v; want 200", len(stream.recs), stream.err)
			}
			sameRecords(t, stream, lib)
		})
	}
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
	if err := testbundle.Run7z(src, inner, testbundle.ArchiveOptions{Args: args}, names...); err != nil {
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

// TestStreamMatchesLibrary reads archives that 7z makes with each coder
// chain a memberStream decodes, and some it leaves to the library, both
// ways: the records, warnings and data must be the same.
func TestStreamMatchesLibrary(t *testing.T) {
	files := testFiles(t)
	tests := []struct {
		name   string
		args   []string
		stream bool // read by a memberStream
	}{
		{name: "store", args: []string{"-mx=0"}, stream: true},
		{name: "LZMA", args: []string{"-m0=LZMA"}, stream: true},
		{name: "LZMA2", args: []string{"-m0=LZMA2"}, stream: true},
		{name: "BCJ+LZMA2", args: []string{"-mf=BCJ"}, stream: true},
		{name: "BCJ+LZMA", args: []string{"-m0=LZMA", "-mf=BCJ"}, stream: true},
		{name: "BCJ+store", args: []string{"-mx=0", "-mf=BCJ"}, stream: true},
		{name: "BCJ+LZMA2 as Infineon's", args: []string{"-mx=9", "-mf=BCJ"}, stream: true},
		{name: "not solid", args: []string{"-ms=off"}, stream: true},
		{name: "not solid BCJ", args: []string{"-ms=off", "-mf=BCJ"}, stream: true},
		{name: "not solid store", args: []string{"-ms=off", "-mx=0"}, stream: true},
		{name: "blocks of 3 files", args: []string{"-ms=3f", "-mf=BCJ"}, stream: true},
		{name: "blocks of 64 KiB", args: []string{"-ms=64k", "-m0=LZMA"}, stream: true},
		{name: "plain header", args: []string{"-mhc=off"}, stream: true},
		{name: "all times", args: []string{"-mtc=on", "-mta=on"}, stream: true},
		{name: "no times", args: []string{"-mtm=off"}, stream: true},
		{name: "PPMd is left to the library", args: []string{"-m0=PPMd"}},
		{name: "BZip2 is left to the library", args: []string{"-m0=BZip2"}},
		{name: "Delta is left to the library", args: []string{"-mf=Delta:4"}},
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
			stream := readVia(t, path, opts, false, tc.stream)
			lib := readVia(t, path, opts, true, tc.stream)
			if stream.err != nil {
				t.Fatal(stream.err)
			}
			sameRecords(t, stream, lib)
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

// TestStreamLimits checks the caps hold on the streaming path as on the
// library's: an oversize entry is a record's Problem, more bytes than
// MaxTotalBytes or members than MaxEntries end the reading.
func TestStreamLimits(t *testing.T) {
	files := testFiles(t)
	path := bundleOf(t, files, "-mf=BCJ", "-ms=3f")
	over := func(max int) int { // records over max bytes
		n := 0
		for _, f := range files {
			if pemName.MatchString(filepath.Base(f.Name)) && strings.Contains(f.Name, "E0E0") && len(f.Data) > max {
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
			stream := readVia(t, path, manifest.Options{Limits: tc.limits}, false, true)
			lib := readVia(t, path, manifest.Options{Limits: tc.limits}, true, true)
			sameRecords(t, stream, lib)
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

// TestStreamDamage flips bytes in the packed data of a stored and of a
// compressed inner archive (fixing no CRC): the streaming path must fail
// as the library does, with ErrMalformed naming the member.
func TestStreamDamage(t *testing.T) {
	files := testFiles(t)[:25]
	for _, args := range [][]string{{"-mx=0", "-mhc=off"}, {"-mf=BCJ"}, {"-m0=LZMA"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			path := bundleOf(t, files, args...)
			dir := t.TempDir()
			// The inner archive, damaged, in a stored outer archive.
			r, err := Open(path, manifest.Options{TempDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			inner, err := os.ReadFile(r.tmp.Name())
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			packed, _ := splitArchive(inner)
			for _, at := range []int{0, 100, len(packed) / 2, len(packed) - 3} {
				bad := bytes.Clone(inner)
				bad[32+at] ^= 0x55
				p := testbundle.Write(t, dir, testbundle.Spec{Name: fmt.Sprintf("bad%d.7z", at), Level: -1,
					Members: []testbundle.Member{{Name: testReel + "_" + testBatch + "_E0E0_Certs.7z", Data: bad}}})
				stream := readVia(t, p, manifest.Options{}, false, true)
				lib := readVia(t, p, manifest.Options{}, true, true)
				if !errors.Is(stream.err, manifest.ErrMalformed) {
					t.Errorf("byte %d: error %v, want ErrMalformed", at, stream.err)
				}
				var me *manifest.Error
				if !errors.As(stream.err, &me) || me.File != p || me.Entry == "" {
					t.Errorf("byte %d: error %v names no file and entry", at, stream.err)
				}
				if !errors.Is(lib.err, manifest.ErrMalformed) {
					t.Errorf("byte %d: library error %v", at, lib.err)
				}
				// Both read the same records up to the damage, or the
				// stream fewer: it may check less late than the library
				// does (a folder's decoder fails where it fails).
				n := min(len(stream.recs), len(lib.recs))
				sameRecords(t, readResult{recs: stream.recs[:n]}, readResult{recs: lib.recs[:n]})
			}
		})
	}
}

// TestBCJChunks checks that the BCJ decoder gives the same bytes whatever
// sizes it is read in and its source returns.
func TestBCJChunks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	in := append(x86Code(t, 200_000), branchy(rnd, 100_000)...)
	want := bytes.Clone(in)
	var state uint32
	n := x86Convert(want, 0, &state)
	if n < len(want)-4 {
		t.Fatalf("converted %d of %d bytes at once", n, len(want))
	}
	if bytes.Equal(want, in) {
		t.Fatal("the filter changed nothing: the test data has no branches")
	}
	tests := []struct {
		name string
		src  func(io.Reader) io.Reader
		read int
	}{
		{name: "whole", src: func(r io.Reader) io.Reader { return r }, read: 1 << 20},
		{name: "one byte at a time", src: iotest.OneByteReader, read: 7},
		{name: "half reads", src: iotest.HalfReader, read: 1},
		{name: "data and EOF", src: iotest.DataErrReader, read: 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := newBCJReader(tc.src(bytes.NewReader(in)))
			var got []byte
			buf := make([]byte, tc.read)
			for {
				n, err := z.Read(buf)
				got = append(got, buf[:n]...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, differing from the %d wanted", len(got), len(want))
			}
		})
	}
}

// TestStreamNames checks that names decode from UTF-16 as the 7z library
// decodes them, an unpaired surrogate becoming U+FFFD.
func TestStreamNames(t *testing.T) {
	utf16le := func(units ...uint16) []byte {
		var b []byte
		for _, u := range units {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	tests := []struct {
		name  string
		units []uint16
		want  string
	}{
		{name: "ASCII", units: []uint16{'a', '_', '1', '.', 'p', 'e', 'm', 0}, want: "a_1.pem"},
		{name: "empty", units: []uint16{0}, want: ""},
		{name: "BMP", units: []uint16{0xE9, 0x4E2D, 0}, want: "é中"},
		{name: "surrogate pair", units: []uint16{0xD83D, 0xDE00, 0}, want: "😀"},
		{name: "high surrogate alone", units: []uint16{0xD83D, 'a', 0}, want: "\uFFFDa"},
		{name: "low surrogate alone", units: []uint16{'a', 0xDE00, 0}, want: "a\uFFFD"},
		{name: "high surrogate last", units: []uint16{'a', 0xD83D, 0}, want: "a\uFFFD"},
		{name: "two high surrogates", units: []uint16{0xD83D, 0xD83D, 0xDE00, 0}, want: "\uFFFD😀"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &memberStream{lay: &layout{hdr: bytes.NewReader(append([]byte{0}, utf16le(tc.units...)...))}}
			s.names = s.cursor(1)
			got, err := s.name()
			if err != nil || got != tc.want {
				t.Errorf("name() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("too long", func(t *testing.T) {
		long := make([]uint16, maxNameUnits+1)
		for i := range long {
			long[i] = 'a'
		}
		s := &memberStream{lay: &layout{hdr: bytes.NewReader(utf16le(append(long, 0)...))}}
		s.names = s.cursor(0)
		if _, err := s.name(); !errors.Is(err, manifest.ErrMalformed) {
			t.Errorf("name() of %d characters: %v, want ErrMalformed", len(long), err)
		}
	})
}

// TestIsDir checks directories are told from their attributes as the 7z
// library tells them; p7zip puts the Unix mode in the high half and sets
// 0x8000 (FILE_ATTRIBUTE_UNIX_EXTENSION).
func TestIsDir(t *testing.T) {
	tests := []struct {
		name string
		attr uint32
		want bool
	}{
		{name: "none", attr: 0, want: false},
		{name: "DOS archive", attr: 0x20, want: false},
		{name: "DOS directory", attr: 0x10, want: true},
		{name: "Unix file", attr: 0o100644<<16 | 0x8000 | 0x20, want: false},
		{name: "Unix directory", attr: 0o040755<<16 | 0x8000 | 0x10, want: true},
		{name: "Unix file with the DOS directory bit", attr: 0o100644<<16 | 0x8000 | 0x10, want: false},
		{name: "Unix symlink", attr: 0o120777<<16 | 0x8000, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isDir(tc.attr); got != tc.want {
				t.Errorf("isDir(%#x) = %v, want %v", tc.attr, got, tc.want)
			}
		})
	}
}
