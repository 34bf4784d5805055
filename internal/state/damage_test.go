package state_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/state"
)

// bbolt's page header: id (8 bytes), flags (2), count (2), overflow (4);
// a leaf element: flags, pos, ksize, vsize (4 bytes each), pos counted
// from the element.
const (
	pageBranch = 0x01
	pageLeaf   = 0x02
)

// healthyFile writes a state file of n devices and returns its bytes and
// page size.
func healthyFile(t *testing.T, n int) ([]byte, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "healthy.state")
	s, err := state.Open(p, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if err := state.Fill(s, n); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b, int(binary.LittleEndian.Uint32(b[16+8:])) // after the page header: magic, version, page size
}

// meta is what the test needs of the newer valid-looking meta page: the
// freelist's page, the high-water mark (pages in use) and which page it is.
type meta struct{ freelist, pgid, page int }

func metaOf(b []byte, ps int) meta {
	var m meta
	var txid uint64
	for page := range 2 {
		off := page*ps + 16
		if t := binary.LittleEndian.Uint64(b[off+48:]); t >= txid {
			txid = t
			m = meta{
				freelist: int(binary.LittleEndian.Uint64(b[off+32:])),
				pgid:     int(binary.LittleEndian.Uint64(b[off+40:])),
				page:     page,
			}
		}
	}
	return m
}

// pagesOf returns the numbers of the pages of type flag, in file order.
func pagesOf(b []byte, pageSize int, flag uint16) []int {
	var ids []int
	for off := 0; off+pageSize <= len(b); off += pageSize {
		if binary.LittleEndian.Uint16(b[off+8:]) == flag {
			ids = append(ids, off/pageSize)
		}
	}
	return ids
}

func flip(b []byte, from, n int) []byte {
	b = bytes.Clone(b)
	for i := from; i < from+n && i < len(b); i++ {
		b[i] ^= 0xFF
	}
	return b
}

// checkDamageError checks err is the one-line ErrCorrupt message that
// names path and says how to go on.
func checkDamageError(t *testing.T, path string, err error) {
	t.Helper()
	if !errors.Is(err, state.ErrCorrupt) {
		t.Fatalf("error = %v, want ErrCorrupt", err)
	}
	if errors.Is(err, state.ErrMismatch) {
		t.Errorf("error %v claims the file belongs to another import", err)
	}
	msg := err.Error()
	for _, want := range []string{path, "delete it, or pass --state a new file", "idempotent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
}

// TestDamagedFile opens state files damaged in many ways: each must fail
// with ErrCorrupt, in Open and OpenReadOnly, and never panic (a panic or
// fault would crash the test binary).
func TestDamagedFile(t *testing.T) {
	good, ps := healthyFile(t, 3000)
	leaves := pagesOf(good, ps, pageLeaf)
	branches := pagesOf(good, ps, pageBranch)
	if len(leaves) < 3 || len(branches) == 0 {
		t.Fatalf("healthy file has %d leaf and %d branch pages", len(leaves), len(branches))
	}
	leaf := leaves[len(leaves)/2] * ps
	// The middle of the first value on that leaf page.
	pos := int(binary.LittleEndian.Uint32(good[leaf+16+4:]))
	ksize := int(binary.LittleEndian.Uint32(good[leaf+16+8:]))
	vsize := int(binary.LittleEndian.Uint32(good[leaf+16+12:]))
	value := leaf + 16 + pos + ksize + vsize/2
	m := metaOf(good, ps)
	garbage := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	zero := func(b []byte, page int) []byte {
		b = bytes.Clone(b)
		clear(b[page*ps : (page+1)*ps])
		return b
	}

	tests := []struct {
		name string
		data []byte
	}{
		{"truncated to 100 bytes", good[:100]},
		{"truncated to one page", good[:ps]},
		{"truncated to the meta pages", good[:2*ps]},
		{"truncated to half", good[:len(good)/2/ps*ps]},
		{"truncated by a page in use", good[:(m.pgid-1)*ps]},
		{"truncated by a byte in use", good[:m.pgid*ps-1]},
		{"both meta pages flipped", flip(flip(good, 16, 64), ps+16, 64)},
		{"a leaf page's header flipped", flip(good, leaf+8, 4)},
		{"a leaf page's element headers flipped", flip(good, leaf+16, 64)},
		{"a value flipped", flip(good, value, 3)},
		{"a leaf page zeroed", zero(good, leaves[0])},
		{"a branch page zeroed", zero(good, branches[0])},
		{"the freelist page zeroed", zero(good, m.freelist)},
		{"garbage", garbage},
		{"garbage after the meta pages", append(bytes.Clone(good[:2*ps]), garbage...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "damaged.state")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			ro, err := state.OpenReadOnly(p)
			if err == nil {
				ro.Close()
			}
			checkDamageError(t, p, err)
			s, err := state.Open(p, testMeta())
			if err == nil {
				s.Close()
			}
			checkDamageError(t, p, err)
			t.Log(err)
		})
	}
}

// TestDamageRecoveredByBolt: what bbolt repairs itself is not an error.
func TestDamageRecoveredByBolt(t *testing.T) {
	good, ps := healthyFile(t, 300)
	newer := metaOf(good, ps).page
	for _, tc := range []struct {
		name string
		data []byte
		want int // devices read back
	}{
		{"empty file: a new state", nil, 0},
		{"the older meta page flipped", flip(good, (1-newer)*ps+16, 64), 300},
		// The fill's transaction is lost, as after a crash before its
		// fsync: the import does those steps again, which is safe.
		{"the newer meta page flipped: bbolt takes the older", flip(good, newer*ps+16, 64), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.state")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, p, testMeta())
			n := 0
			if err := s.ForEach(func(string, state.Progress) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("read %d devices, want %d", n, tc.want)
			}
		})
	}
}

// TestDamageWhileOpen damages the file under an open Store (bbolt maps it
// shared, so it sees the change): Get, Update, ForEach and Counts must
// return ErrCorrupt, not panic.
func TestDamageWhileOpen(t *testing.T) {
	good, ps := healthyFile(t, 3000)
	leaves := pagesOf(good, ps, pageLeaf)
	for _, page := range []struct {
		name string
		data []byte
	}{
		{"zeroed", make([]byte, ps)},
		{"header flipped", flip(good[leaves[1]*ps:(leaves[1]+1)*ps], 8, 8)},
		{"elements flipped", flip(good[leaves[1]*ps:(leaves[1]+1)*ps], 16, 64)},
	} {
		t.Run(page.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.state")
			if err := os.WriteFile(p, good, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, p, testMeta())
			// The first key of the damaged page.
			off := leaves[1] * ps
			pos := int(binary.LittleEndian.Uint32(good[off+16+4:]))
			ksize := int(binary.LittleEndian.Uint32(good[off+16+8:]))
			key := string(good[off+16+pos : off+16+pos+ksize])
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(page.data, int64(off)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			_, _, err = s.Get(key)
			checkDamageError(t, p, err)
			err = s.ForEach(func(string, state.Progress) error { return nil })
			checkDamageError(t, p, err)
			_, err = s.Counts()
			checkDamageError(t, p, err)
			err = s.Update(key, func(d *state.Progress) error { d.Status = "x"; return nil })
			checkDamageError(t, p, err)
		})
	}
}

// TestMetaDamageIsNotMismatch flips a byte of the stored meta record's
// manifest SHA-256 to another hex digit, which bbolt cannot see: the CRC
// of the record makes it ErrCorrupt, not "recorded for another import".
func TestMetaDamageIsNotMismatch(t *testing.T) {
	good, _ := healthyFile(t, 10)
	b := bytes.Clone(good)
	n := 0
	for i := 0; ; n++ { // the live record and any stale copies on free pages
		j := bytes.Index(b[i:], []byte(testSHA))
		if j < 0 {
			break
		}
		b[i+j] ^= 0x01 // '9' (0x39) becomes '8'
		i += j + 1
	}
	if n == 0 {
		t.Fatal("meta record not found")
	}
	p := filepath.Join(t.TempDir(), "s.state")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := state.Open(p, testMeta())
	checkDamageError(t, p, err)
}

// TestDamageEveryPage zeroes, and flips the header and the first
// elements of, each page of a state file in turn: Open and then reading
// every record must end in no error or ErrCorrupt, never a panic, a fault
// or another error.
func TestDamageEveryPage(t *testing.T) {
	good, ps := healthyFile(t, 400)
	dir := t.TempDir()
	kinds := map[string]func(b []byte, page int) []byte{
		"zeroed":   func(b []byte, page int) []byte { b = bytes.Clone(b); clear(b[page*ps : (page+1)*ps]); return b },
		"header":   func(b []byte, page int) []byte { return flip(b, page*ps+8, 8) },
		"elements": func(b []byte, page int) []byte { return flip(b, page*ps+16, 48) },
	}
	var corrupt, fine int
	for page := range len(good) / ps {
		for kind, damage := range kinds {
			p := filepath.Join(dir, "s.state")
			if err := os.WriteFile(p, damage(good, page), 0o600); err != nil {
				t.Fatal(err)
			}
			err := readWhole(p)
			switch {
			case err == nil:
				fine++
			case errors.Is(err, state.ErrCorrupt) && !errors.Is(err, state.ErrMismatch):
				corrupt++
			default:
				t.Errorf("page %d %s: %v", page, kind, err)
			}
		}
	}
	t.Logf("%d damaged files found damaged, %d read (the damage was on free pages, or repaired by bbolt)", corrupt, fine)
	if corrupt == 0 {
		t.Error("no damage was found")
	}
}

// readWhole opens the state file at path and reads every record.
func readWhole(path string) error {
	s, err := state.Open(path, testMeta())
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.ForEach(func(string, state.Progress) error { return nil }); err != nil {
		return err
	}
	_, err = s.Counts()
	return err
}
