package infineon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ulikunitz/xz/lzma"

	"github.com/thingpress/thingpress/internal/manifest"
)

// archive7z lays out a 7z file: the signature header, packed data, and
// the header, with correct CRCs, as an attacker can.
func archive7z(t *testing.T, packed, header []byte) []byte {
	t.Helper()
	var sh []byte
	sh = binary.LittleEndian.AppendUint64(sh, uint64(len(packed)))
	sh = binary.LittleEndian.AppendUint64(sh, uint64(len(header)))
	sh = binary.LittleEndian.AppendUint32(sh, crc32.ChecksumIEEE(header))
	b := []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(sh))
	b = append(b, sh...)
	b = append(b, packed...)
	return append(b, header...)
}

// lzmaRaw compresses b as a 7z LZMA coder stores it: the 5 property
// bytes, and the stream without the .lzma header.
func lzmaRaw(t *testing.T, b []byte) (props, stream []byte) {
	t.Helper()
	var out bytes.Buffer
	w, err := lzma.WriterConfig{DictCap: 1 << 16, SizeInHeader: true, Size: int64(len(b))}.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()[:5], out.Bytes()[13:]
}

// encodedHeader wraps a plain header into an LZMA-encoded one: packed
// data and the kEncodedHeader header that points to it.
func encodedHeader(t *testing.T, plain []byte, coderID []byte) (packed, header []byte) {
	t.Helper()
	props, stream := lzmaRaw(t, plain)
	h := []byte{idEncodedHeader,
		idPackInfo, 0x00, 0x01, idSize}
	h = append(h, num(uint64(len(stream)))...)
	h = append(h, idEnd,
		idUnpackInfo, idFolder, 0x01, 0x00, // one folder, not external
		0x01) // one coder
	h = append(h, byte(len(coderID))|0x20)
	h = append(h, coderID...)
	h = append(h, byte(len(props)))
	h = append(h, props...)
	h = append(h, idCodersUnpackSize)
	h = append(h, num(uint64(len(plain)))...)
	h = append(h, idEnd, idEnd)
	return stream, h
}

// num encodes a 7z number (the simple 9-byte form above 2^56 is not needed).
func num(v uint64) []byte {
	switch {
	case v < 0x80:
		return []byte{byte(v)}
	case v < 0x4000:
		return []byte{0x80 | byte(v>>8), byte(v)}
	default:
		b := []byte{0xF0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], uint32(v))
		return b
	}
}

func TestCheckHeaderHostile(t *testing.T) {
	manyFiles := []byte{idHeader, idFilesInfo, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, idEnd, idEnd}
	encPacked, encHeader := encodedHeader(t, manyFiles, []byte{0x03, 0x01, 0x01})
	_, aesHeader := encodedHeader(t, manyFiles, []byte{0x06, 0xF1, 0x07, 0x01})
	tests := []struct {
		name   string
		file   []byte
		limits manifest.Limits
		want   error
	}{
		{name: "2^32-1 files", file: archive7z(t, nil, manyFiles), want: manifest.ErrTooLarge},
		{name: "2^32-1 files in an encoded header", file: archive7z(t, encPacked, encHeader), want: manifest.ErrTooLarge},
		{name: "encrypted header", file: archive7z(t, encPacked, aesHeader), want: manifest.ErrEncrypted},
		{name: "more files than MaxEntries", limits: manifest.Limits{MaxEntries: 3, MaxMembers: 3},
			file: archive7z(t, nil, []byte{idHeader, idFilesInfo, 4, idEnd, idEnd}), want: manifest.ErrTooLarge},
		{name: "coder with 1000 out-streams", file: archive7z(t, nil, []byte{idHeader, idMainStreamsInfo,
			idUnpackInfo, idFolder, 1, 0, 1, 0x11, 0x21, 0x83, 0xE8, 0x83, 0xE8}), want: manifest.ErrTooLarge},
		{name: "LZMA2 dictionary of 4 GiB", file: archive7z(t, nil, []byte{idHeader, idMainStreamsInfo,
			idUnpackInfo, idFolder, 1, 0, 1, 0x21, 0x21, 1, 40}), want: manifest.ErrTooLarge},
		{name: "2^32-1 sub-streams", file: archive7z(t, nil, []byte{idHeader, idMainStreamsInfo,
			idPackInfo, 0, 1, idSize, 10, idEnd,
			idUnpackInfo, idFolder, 1, 0, 1, 0x01, 0x00, idCodersUnpackSize, 10, idEnd,
			idSubStreamsInfo, idNumUnpackStream, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF}), want: manifest.ErrTooLarge},
		{name: "empty streams twice", file: archive7z(t, nil, []byte{idHeader, idFilesInfo, 8,
			idEmptyStream, 1, 0xFF, idEmptyStream, 1, 0xFF, idEnd, idEnd}), want: manifest.ErrTooLarge},
		{name: "signature not at the start", file: append([]byte("MZ"), archive7z(t, nil, manyFiles)...), want: manifest.ErrMalformed},
		{name: "header past the end", file: archive7z(t, nil, manyFiles)[:40], want: manifest.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHeader(bytes.NewReader(tc.file), int64(len(tc.file)), tc.limits)
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("checkHeader = %v, want %v", err, tc.want)
			}
			// And through Open, which must fail the same way and not die.
			p := filepath.Join(t.TempDir(), "hostile.7z")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(t.Context(), p, manifest.Options{TempDir: t.TempDir(), Limits: tc.limits})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckHeaderAcceptsSample makes sure the walker follows the grammar of
// the archives 7-Zip writes: the real bundle and its inner archives.
func TestCheckHeaderAcceptsSample(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "shared", "fixtures", "infineon", "manifest-infineon.7z")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	if err := checkHeader(bytes.NewReader(b), int64(len(b)), manifest.Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := checkHeader(bytes.NewReader(b), int64(len(b)), manifest.Limits{MaxEntries: 4}); !errors.Is(err, manifest.ErrTooLarge) {
		t.Fatalf("5 members under MaxEntries 4: %v", err)
	}
}

// TestLibraryVersion fails when go.mod moves github.com/bodgit/sevenzip off
// the version checkHeader follows: on an upgrade, compare the new
// version's header parsing (types.go, struct.go, reader.go) with the walk,
// then change the version here.
func TestLibraryVersion(t *testing.T) {
	const module, want = "github.com/bodgit/sevenzip", "v1.6.5"
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == module || len(f) >= 3 && f[1] == module) {
			got = append(got, strings.Join(f, " "))
		}
	}
	if len(got) != 1 || got[0] != module+" "+want {
		t.Fatalf("go.mod has %q, want %s %s (and no replace): check checkHeader against it", got, module, want)
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module && (dep.Version != want || dep.Replace != nil) {
				t.Fatalf("built with %s %s (replace %v), want %s", module, dep.Version, dep.Replace, want)
			}
		}
	}
}
