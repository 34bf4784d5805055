package infineon_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

const (
	reel  = "0123456789ABCDEF"
	batch = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
)

func chip(i int) string { return fmt.Sprintf("0A091B5C%012X", i) }

// fakePEM is what a test entry holds: the reader does not parse PEM.
func fakePEM(chipID, slot string) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\r\n" + chipID + "/" + slot + "\r\n-----END CERTIFICATE-----\r\n")
}

func certsName(slot string) string { return reel + "_" + batch + "_" + slot + "_Certs.7z" }

// certs returns the files of a slot's inner archive for n chips.
func certs(slot string, n int) []testbundle.File {
	files := make([]testbundle.File, n)
	for i := range files {
		files[i] = testbundle.File{Name: chip(i) + "_" + slot + ".pem", Data: fakePEM(chip(i), slot)}
	}
	return files
}

// bundle is the layout of a real bundle: one inner archive per slot, the
// encrypted keys archive and a README.
func bundle(n int, slots ...string) testbundle.Spec {
	var s testbundle.Spec
	for _, slot := range slots {
		s.Members = append(s.Members, testbundle.Member{Name: certsName(slot), Files: certs(slot, n)})
	}
	s.Members = append(s.Members,
		testbundle.Member{Name: reel + "_" + batch + "_keys.7z", Password: "transport", EncryptHeaders: true,
			Files: []testbundle.File{{Name: "auto_keys.txt", Data: []byte(chip(0) + ", 00112233\r\n")}}},
		testbundle.Member{Name: "README.txt", Data: []byte("Dear User,\r\n")},
	)
	return s
}

// readAll opens path and reads every record; it returns the first error of
// Open or Next other than io.EOF.
func readAll(t *testing.T, path string, opts manifest.Options) (*infineon.Reader, []manifest.Record, error) {
	t.Helper()
	r, err := infineon.Open(t.Context(), path, opts)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { r.Close() })
	var recs []manifest.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, recs, nil
		}
		if err != nil {
			return r, recs, err
		}
		recs = append(recs, rec)
	}
}

// quiet is a logger that keeps the test output clean.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReadSlots(t *testing.T) {
	dir := t.TempDir()
	path := testbundle.Write(t, dir, bundle(5, "E0E0", "E0E1", "E0E2"))
	tests := []struct {
		name     string
		slot     string
		wantSlot string
	}{
		{name: "default is E0E0", slot: "", wantSlot: "E0E0"},
		{name: "E0E0", slot: "E0E0", wantSlot: "E0E0"},
		{name: "E0E1", slot: "E0E1", wantSlot: "E0E1"},
		{name: "E0E2", slot: "E0E2", wantSlot: "E0E2"},
		{name: "lower case slot", slot: "e0e2", wantSlot: "E0E2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, recs, err := readAll(t, path, manifest.Options{Slot: tc.slot, TempDir: t.TempDir(), Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 5 || r.Count() != 5 {
				t.Fatalf("got %d records, Count() = %d, want 5", len(recs), r.Count())
			}
			for i, rec := range recs {
				want := manifest.Record{
					Entry: chip(i) + "_" + tc.wantSlot + ".pem", ChipID: chip(i), Slot: tc.wantSlot,
					ReelID: reel, BatchID: batch, Encoding: manifest.PEM,
				}
				if rec.Entry != want.Entry || rec.ChipID != want.ChipID || rec.Slot != want.Slot ||
					rec.ReelID != want.ReelID || rec.BatchID != want.BatchID || rec.Encoding != want.Encoding || rec.Problem != nil {
					t.Errorf("record %d = %+v, want %+v", i, rec, want)
				}
				if !bytes.Equal(rec.Data, fakePEM(chip(i), tc.wantSlot)) {
					t.Errorf("record %d data = %q", i, rec.Data)
				}
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	testbundle.Require7z(t)
	dir := t.TempDir()
	full := testbundle.Write(t, dir, bundle(3, "E0E0", "E0E1", "E0E2"))
	fullBytes, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := func(name string, s testbundle.Spec) string {
		t.Helper()
		s.Name = name
		return testbundle.Write(t, dir, s)
	}
	encInner := bundle(3, "E0E0")
	encInner.Members[0].Password = "SECRET"
	encInnerNames := bundle(3, "E0E0")
	encInnerNames.Members[0].Password = "SECRET"
	encInnerNames.Members[0].EncryptHeaders = true
	encOuter := bundle(3, "E0E0")
	encOuter.Password = "SECRET"
	big := bundle(3, "E0E0")
	big.Members[0].Files = append(big.Members[0].Files, testbundle.File{Name: chip(9) + "_E0E0.pem", Data: bytes.Repeat([]byte("A"), 4000)})
	bigFirst := bundle(3, "E0E0")
	bigFirst.Members = append([]testbundle.Member{{Name: "0-first.txt", Data: bytes.Repeat([]byte("A"), 100_000)}}, bigFirst.Members...)
	mixed := bundle(3, "E0E0")
	mixed.Members = append(mixed.Members, testbundle.Member{
		Name: "FEDCBA9876543210_" + batch + "_E0E1_Certs.7z", Files: certs("E0E1", 1)})

	tests := []struct {
		name     string
		path     string
		opts     manifest.Options
		want     error
		wantText []string // substrings of the message
	}{
		{name: "unknown slot", path: full, opts: manifest.Options{Slot: "E0F0"}, want: manifest.ErrBadSlot},
		{name: "missing slot names the present ones", path: spec("two.7z", bundle(2, "E0E0", "E0E2")),
			opts: manifest.Options{Slot: "E0E1"}, want: manifest.ErrSlotMissing, wantText: []string{"E0E1", "E0E0, E0E2"}},
		{name: "no Certs archives", path: spec("nocerts.7z", testbundle.Spec{Members: []testbundle.Member{
			{Name: "README.txt", Data: []byte("hello")},
			{Name: "other.7z", Files: certs("E0E0", 1)},
		}}), want: manifest.ErrFormat},
		{name: "garbage", path: write("garbage.7z", bytes.Repeat([]byte("not a 7z archive "), 100)), want: manifest.ErrMalformed},
		{name: "empty file", path: write("empty.7z", nil), want: manifest.ErrMalformed},
		{name: "7z signature only", path: write("sig.7z", fullBytes[:32]), want: manifest.ErrMalformed},
		{name: "truncated to half", path: write("half.7z", fullBytes[:len(fullBytes)/2]), want: manifest.ErrMalformed},
		{name: "truncated by one byte", path: write("short.7z", fullBytes[:len(fullBytes)-1]), want: manifest.ErrMalformed},
		{name: "encrypted inner archive", path: spec("encinner.7z", encInner), want: manifest.ErrEncrypted},
		{name: "encrypted inner archive names", path: spec("encnames.7z", encInnerNames), want: manifest.ErrEncrypted},
		{name: "encrypted outer archive", path: spec("encouter.7z", encOuter), want: manifest.ErrEncrypted},
		{name: "more members than MaxEntries", path: full,
			opts: manifest.Options{Limits: manifest.Limits{MaxEntries: 2}}, want: manifest.ErrTooLarge},
		{name: "more inner members than MaxInnerMembers", path: full,
			opts: manifest.Options{Limits: manifest.Limits{MaxInnerMembers: 2}}, want: manifest.ErrTooLarge},
		{name: "inner archive over MaxInnerBytes", path: full,
			opts: manifest.Options{Limits: manifest.Limits{MaxInnerBytes: 100}}, want: manifest.ErrTooLarge},
		{name: "members over MaxTotalBytes", path: spec("big.7z", big),
			opts: manifest.Options{Limits: manifest.Limits{MaxTotalBytes: 3000}}, want: manifest.ErrTooLarge},
		{name: "outer members before the Certs archive over MaxTotalBytes", path: spec("bigfirst.7z", bigFirst),
			opts: manifest.Options{Limits: manifest.Limits{MaxTotalBytes: 50_000}}, want: manifest.ErrTooLarge},
		{name: "two reels in one bundle", path: spec("mixed.7z", mixed), want: manifest.ErrMalformed},
		{name: "no such file", path: filepath.Join(dir, "nonexistent.7z"), want: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			tc.opts.TempDir = tmp
			tc.opts.Logger = quiet()
			r, _, err := readAll(t, tc.path, tc.opts)
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var me *manifest.Error
			if !errors.As(err, &me) || me.File != tc.path {
				t.Errorf("error %v is not a *manifest.Error naming %s", err, tc.path)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if r != nil {
				r.Close()
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("temp files left behind: %v", left)
			}
		})
	}
}

func TestSkipsOddMembers(t *testing.T) {
	files := []testbundle.File{
		{Name: chip(1) + "_E0E0.pem", Data: fakePEM(chip(1), "E0E0")},
		{Name: chip(2) + "_E0E1.pem", Data: fakePEM(chip(2), "E0E1")}, // other slot
		{Name: "README.txt", Data: []byte("hi")},
		{Name: "not-a-chip_E0E0.pem", Data: []byte("x")},
		{Name: chip(3) + "_E0E0.pem.bak", Data: []byte("x")},
		{Name: "_E0E0.pem", Data: []byte("x")},
		{Name: "emptydir/"},
		{Name: "sub/" + chip(4) + "_E0E0.pem", Data: fakePEM(chip(4), "E0E0")},
	}
	s := testbundle.Spec{Members: []testbundle.Member{{Name: certsName("E0E0"), Files: files}}}
	path := testbundle.Write(t, t.TempDir(), s)
	var logs bytes.Buffer
	r, recs, err := readAll(t, path, manifest.Options{TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count() != len(recs) {
		t.Errorf("Count() = %d, want the %d records read", r.Count(), len(recs))
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Entry+"="+r.ChipID)
	}
	want := []string{chip(1) + "_E0E0.pem=" + chip(1), "sub/" + chip(4) + "_E0E0.pem=" + chip(4)}
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	for _, skipped := range []string{chip(2) + "_E0E1.pem", "README.txt", "not-a-chip_E0E0.pem",
		chip(3) + "_E0E0.pem.bak", "_E0E0.pem", "emptydir"} {
		if !strings.Contains(logs.String(), "entry="+skipped) {
			t.Errorf("no warning about %s in:\n%s", skipped, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "file="+path); n != 6 {
		t.Errorf("%d warnings name the file, want 6:\n%s", n, logs.String())
	}
}

func TestOversizeEntry(t *testing.T) {
	files := []testbundle.File{
		{Name: chip(1) + "_E0E0.pem", Data: fakePEM(chip(1), "E0E0")},
		{Name: chip(2) + "_E0E0.pem", Data: bytes.Repeat([]byte("B"), 5000)},
		{Name: chip(3) + "_E0E0.pem", Data: fakePEM(chip(3), "E0E0")},
	}
	s := testbundle.Spec{Members: []testbundle.Member{{Name: certsName("E0E0"), Files: files}}}
	path := testbundle.Write(t, t.TempDir(), s)
	tests := []struct {
		name     string
		maxEntry int64
		problems []bool
	}{
		{name: "default limit", maxEntry: 0, problems: []bool{false, false, false}},
		{name: "limit at the size", maxEntry: 5000, problems: []bool{false, false, false}},
		{name: "limit below the size", maxEntry: 4999, problems: []bool{false, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, recs, err := readAll(t, path, manifest.Options{TempDir: t.TempDir(), Logger: quiet(),
				Limits: manifest.Limits{MaxEntryBytes: tc.maxEntry}})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			for i, rec := range recs {
				if got := rec.Problem != nil; got != tc.problems[i] {
					t.Errorf("record %d problem = %v", i, rec.Problem)
				}
				if rec.Problem != nil {
					if !errors.Is(rec.Problem, manifest.ErrTooLarge) {
						t.Errorf("record %d problem %v does not wrap ErrTooLarge", i, rec.Problem)
					}
					if rec.Data != nil || rec.ChipID != chip(2) {
						t.Errorf("oversize record %+v", rec)
					}
				} else if !bytes.Equal(rec.Data, files[i].Data) {
					t.Errorf("record %d data differs", i)
				}
			}
		})
	}
}

func TestTempFile(t *testing.T) {
	path := testbundle.Write(t, t.TempDir(), bundle(2, "E0E0"))
	tmp := t.TempDir()
	r, err := infineon.Open(t.Context(), path, manifest.Options{TempDir: tmp, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp dir holds %v while open, want the spooled inner archive removed at once", left)
	}
	if runtime.GOOS == "linux" && testbundle.Spool(os.Getpid(), tmp) == "" {
		t.Error("no open file in the temp dir while open, want the spooled inner archive")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left after Close: %v", left)
	}
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next after Close = %v, want an error", err)
	}
}

// TestRealSample reads Infineon's sample reel bundle.
func TestRealSample(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "shared", "fixtures", "infineon", "manifest-infineon.7z")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sample bundle missing: %v", err)
		}
		t.Skipf("sample bundle missing: %v", err)
	}
	for _, slot := range manifest.Slots {
		t.Run(slot, func(t *testing.T) {
			_, recs, err := readAll(t, path, manifest.Options{Slot: slot, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 200 {
				t.Fatalf("%d records, want 200", len(recs))
			}
			seen := map[string]bool{}
			for _, rec := range recs {
				if len(rec.ChipID) != 20 || seen[rec.ChipID] || rec.Slot != slot || rec.Problem != nil ||
					rec.ReelID != "78211223032C7EFA" || rec.BatchID != "b41425b9-b42b-47fd-95c2-f981b4c61561" ||
					!bytes.HasPrefix(rec.Data, []byte("-----BEGIN CERTIFICATE-----\r\n")) {
					t.Fatalf("bad record %+v", rec)
				}
				seen[rec.ChipID] = true
			}
			if recs[0].ChipID != "0A091B5C001500070063" {
				t.Errorf("first chip %s", recs[0].ChipID)
			}
		})
	}
}
