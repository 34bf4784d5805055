package infineon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bodgit/sevenzip"

	"github.com/thingpress/thingpress/internal/manifest"
)

// guardCases are archives that the 7z library, without checkHeader, dies
// on: a fatal out of memory, which no recover catches. Each stands for a
// kind of check the walker makes.
func guardCases(t *testing.T) map[string][]byte {
	t.Helper()
	manyFiles := []byte{idHeader, idFilesInfo, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, idEnd, idEnd}
	encPacked, encHeader := encodedHeader(t, manyFiles, []byte{0x03, 0x01, 0x01})
	n32 := []byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF} // 2^32-1
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return map[string][]byte{
		"files":                      archive7z(t, nil, manyFiles),
		"files in an encoded header": archive7z(t, encPacked, encHeader),
		"coder in-streams": archive7z(t, nil, cat([]byte{idHeader, idMainStreamsInfo,
			idUnpackInfo, idFolder, 1, 0, 1, 0x11, 0x21}, n32, []byte{1})),
		"property bytes": archive7z(t, nil, cat([]byte{idHeader, idMainStreamsInfo,
			idUnpackInfo, idFolder, 1, 0, 1, 0x21, 0x21}, n32)),
		"pack stream CRCs": archive7z(t, nil, cat([]byte{idHeader, idMainStreamsInfo, idPackInfo, 0}, n32,
			[]byte{idCRC, 1})),
		"sub-streams": archive7z(t, nil, cat([]byte{idHeader, idMainStreamsInfo,
			idPackInfo, 0, 1, idSize, 10, idEnd,
			idUnpackInfo, idFolder, 1, 0, 1, 0x01, 0x00, idCodersUnpackSize, 10, idEnd,
			idSubStreamsInfo, idNumUnpackStream}, n32, []byte{idSize})),
	}
}

// TestLibraryPanicsRecovered feeds archives whose counts disagree, which
// checkHeader lets through, to the library alone and to the reader's
// openArchive and read: the library panics on each (an index out of range,
// a nil pointer), and the reader must turn that into ErrMalformed.
func TestLibraryPanicsRecovered(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{name: "files without streams", file: archive7z(t, nil, []byte{idHeader, idFilesInfo, 2, idEnd, idEnd})},
		{name: "folder without pack sizes", file: archive7z(t, nil, []byte{idHeader, idMainStreamsInfo,
			idUnpackInfo, idFolder, 1, 0, 1, 0x01, 0x00, idCodersUnpackSize, 10, idEnd, idEnd,
			idFilesInfo, 1, idEnd, idEnd})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ra, size := bytes.NewReader(tc.file), int64(len(tc.file))
			panicked := func() (p any) {
				defer func() { p = recover() }()
				if zr, err := sevenzip.NewReader(ra, size); err == nil {
					for _, f := range zr.File {
						if rc, err := f.Open(); err == nil {
							_, _ = io.Copy(io.Discard, rc)
							rc.Close()
						}
					}
				}
				return nil
			}()
			if panicked == nil {
				t.Error("the library no longer panics on it: the case may go")
			}
			zr, err := (&Reader{}).openArchive(ra, size, 10)
			for i := 0; err == nil && i < len(zr.File); i++ {
				_, err = read(zr.File[i])
			}
			t.Log(err)
			if !errors.Is(err, manifest.ErrMalformed) || !strings.Contains(err.Error(), "7z library failed") {
				t.Fatalf("got %v, want the library's panic as ErrMalformed", err)
			}
		})
	}
}

// TestGuardNeeded feeds guardCases to the library alone, in a child process
// with 3 GiB of address space, and checks that it dies (or hangs) on each, and that
// checkHeader refuses each. When TestLibraryVersion makes you look at a
// new version, a case that no longer dies marks a check the walker may
// drop.
func TestGuardNeeded(t *testing.T) {
	cases := guardCases(t)
	if name := os.Getenv("THINGPRESS_GUARD_CASE"); name != "" {
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: 3 << 30, Max: 3 << 30}); err != nil {
			t.Fatal(err)
		}
		b := cases[name]
		zr, err := sevenzip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Skip(err) // refused safely
		}
		done := make(chan struct{})
		go func() {
			for _, f := range zr.File {
				if rc, err := f.Open(); err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<10))
					rc.Close()
				}
			}
			close(done)
		}()
		select {
		case <-done:
			t.Skip("read safely")
		case <-time.After(3 * time.Second): // a read of at most 1 KiB
			fmt.Println("hung: still reading after 3 s")
			os.Exit(3)
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs RLIMIT_AS")
	}
	died := regexp.MustCompile(`fatal error: out of memory|hung: still reading`)
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := checkHeader(bytes.NewReader(b), int64(len(b)), manifest.Limits{}); err == nil {
				t.Error("checkHeader lets it through")
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestGuardNeeded$", "-test.v")
			cmd.Env = append(os.Environ(), "THINGPRESS_GUARD_CASE="+name)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !died.Match(out) {
				t.Fatalf("the library alone no longer dies on it (%v): the check may go\n%s", err, out)
			}
			t.Logf("%s", died.Find(out))
		})
	}
}
