package manifesttest

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestHostileAndCollect(t *testing.T) {
	in := Hostile("ab", 'x', 5, "cd")
	b, err := io.ReadAll(in)
	if err != nil || string(b) != "abxxxxxcd" || in.N != 9 {
		t.Fatalf("read %q (%d counted), %v", b, in.N, err)
	}
	fail := errors.New("stop")
	items := []int{1, 2, 3}
	next := func() (int, error) {
		if len(items) == 0 {
			return 0, fail
		}
		v := items[0]
		items = items[1:]
		return v, nil
	}
	got, err := Collect(next)
	if !errors.Is(err, fail) || len(got) != 3 || got[2] != 3 {
		t.Fatalf("Collect: %v, %v", got, err)
	}
	if Outcome(nil) != "ok" || Outcome(fail) != "stop" {
		t.Errorf("Outcome %q, %q", Outcome(nil), Outcome(fail))
	}
}

func TestCount(t *testing.T) {
	items := []int{1, 2, 3}
	next := func() (int, error) {
		if len(items) == 0 {
			return 0, io.EOF
		}
		v := items[0]
		items = items[1:]
		return v, nil
	}
	sum := 0
	if n := Count(t, next, func(v int) { sum += v }); n != 3 || sum != 6 {
		t.Errorf("Count = %d, checked sum %d; want 3 and 6", n, sum)
	}
}

func TestCached(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	writes := 0
	write := func(w *bufio.Writer) {
		writes++
		_, _ = w.WriteString("made once")
	}
	first := Cached(t, "bench.txt", write)
	second := Cached(t, "bench.txt", write)
	if first != filepath.Join(dir, "bench.txt") || second != first || writes != 1 {
		t.Fatalf("paths %s, %s after %d writes; want %s/bench.txt written once", first, second, writes, dir)
	}
	if b, err := os.ReadFile(first); err != nil || string(b) != "made once" {
		t.Errorf("file holds %q, %v", b, err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Errorf("files left in TMPDIR: %v, want the one", files)
	}
}
