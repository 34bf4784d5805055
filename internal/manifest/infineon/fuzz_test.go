package infineon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/bodgit/sevenzip"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// The seed bundles in testdata were made with p7zip 16.02:
//
//	small.7z        outer (LZMA2, solid) holding an E0E0 and an E0E2 Certs
//	                archive (two chips and a stray notes.txt; one chip)
//	                and a README.txt
//	small-store.7z  the same with the outer archive stored (-mx0), so that
//	                mutations reach the inner archive's bytes
//	inner.7z        the E0E0 Certs archive alone
//
// and with 7-Zip 26.02 (p7zip 16.02's front end), for other coder chains
// and layouts:
//
//	multi.7z        a Certs archive of BCJ + LZMA2 in two folders
//	                (-mf=BCJ -ms=2f), with a plain header (-mhc=off): three
//	                chips (one file empty, one of x86 branches), a
//	                notes.txt, a chip in a sub-directory, an empty directory
//	small-multi-store.7z
//	                multi.7z as the E0E0 Certs archive of a stored outer
//	                archive with a plain header
var seedFiles = []string{"small.7z", "small-store.7z", "inner.7z", "multi.7z", "small-multi-store.7z"}

var fuzzLimits = manifest.Limits{
	MaxEntryBytes: 4 << 10,
	MaxInnerBytes: 1 << 20,
	MaxTotalBytes: 2 << 20,
	MaxEntries:    1000,
}

func readSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	m := map[string][]byte{}
	for _, name := range seedFiles {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		m[name] = b
	}
	return m
}

// FuzzOpen feeds arbitrary files to Open and Next with small limits: they
// must end in a record stream or a *manifest.Error, never panic or hang,
// and leave no temporary file behind.
func FuzzOpen(f *testing.F) {
	for _, b := range readSeeds(f) {
		f.Add(b)
		for _, n := range []int{0, 6, 31, 32, 33, len(b) / 3, len(b) / 2, len(b) - 20, len(b) - 1} {
			f.Add(b[:n])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "bundle.7z")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		opts := manifest.Options{TempDir: tmp, Limits: fuzzLimits, Logger: slog.New(slog.DiscardHandler)}
		r, err := Open(t.Context(), path, opts)
		if err == nil {
			manifesttest.Drain(t, r.Next, path, fuzzLimits.MaxEntries, fuzzKinds, func(rec manifest.Record) {
				if int64(len(rec.Data)) > fuzzLimits.MaxEntryBytes {
					t.Fatalf("record of %d bytes", len(rec.Data))
				}
			})
			if cerr := r.Close(); cerr != nil {
				t.Fatal(cerr)
			}
		} else {
			checkFuzzError(t, path, err)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("temp files left behind: %v", left)
		}
	})
}

// fuzzKinds are the errors a mutated bundle may end in.
var fuzzKinds = []error{manifest.ErrMalformed, manifest.ErrTooLarge, manifest.ErrEncrypted, manifest.ErrUnsupported,
	manifest.ErrFormat, manifest.ErrSlotMissing}

func checkFuzzError(t *testing.T, path string, err error) {
	t.Helper()
	var me *manifest.Error
	if !errors.As(err, &me) || me.File != path {
		t.Fatalf("error %v is not a *manifest.Error naming the file", err)
	}
	for _, want := range fuzzKinds {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("error %v wraps no manifest error", err)
}

// splitArchive splits a 7z file into its packed data and its header.
func splitArchive(b []byte) (packed, header []byte) {
	if len(b) < 32 {
		return nil, nil
	}
	off := binary.LittleEndian.Uint64(b[12:20])
	if off > uint64(len(b)-32) {
		return nil, nil
	}
	return b[32 : 32+off], b[32+off:]
}

// FuzzHeader mutates the packed data and the header of an archive and then
// fixes the CRCs, as an attacker would, so that mutations get past the CRC
// checks to checkHeader and then to the library. Whatever checkHeader lets
// through must not make the library die (a fatal out of memory, a hang) or
// hold more members than the limit, opening the archive or reading its
// members. A panic is recovered, as recoverLib does in the reader.
func FuzzHeader(f *testing.F) {
	for _, b := range readSeeds(f) {
		packed, header := splitArchive(b)
		f.Add(packed, header)
	}
	f.Add([]byte{}, []byte{idHeader, idFilesInfo, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, idEnd, idEnd})
	f.Add(make([]byte, 10), []byte{idHeader, idMainStreamsInfo,
		idPackInfo, 0, 1, idSize, 10, idEnd,
		idUnpackInfo, idFolder, 1, 0, 1, 0x01, 0x00, idCodersUnpackSize, 10, idEnd,
		idSubStreamsInfo, idNumUnpackStream, 2, idSize, 4, idEnd, idEnd,
		idFilesInfo, 2, idEnd, idEnd})
	f.Fuzz(func(t *testing.T, packed, header []byte) {
		file := archive7z(t, packed, header)
		ra := bytes.NewReader(file)
		defer func() { _ = recover() }()
		if err := checkHeader(ra, int64(len(file)), fuzzLimits); err != nil {
			return
		}
		zr, err := sevenzip.NewReader(ra, int64(len(file)))
		if err != nil {
			return
		}
		if len(zr.File) > fuzzLimits.MaxEntries {
			t.Fatalf("%d members", len(zr.File))
		}
		var total uint64
		for i, f := range zr.File {
			if total += f.UncompressedSize; total > uint64(fuzzLimits.MaxTotalBytes) || total < f.UncompressedSize {
				return // Open refuses this (see the declared-size check)
			}
			if i%3 == 2 {
				continue // skipped: decoded on the way to the next one
			}
			if rc, err := f.Open(); err == nil {
				// Through progress, as the reader reads: only a panic or a hang fails.
				_, _ = io.Copy(io.Discard, io.LimitReader(manifest.ProgressReader(rc), fuzzLimits.MaxEntryBytes))
				rc.Close()
			}
		}
	})
}
