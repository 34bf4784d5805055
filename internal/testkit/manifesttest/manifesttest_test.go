package manifesttest

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
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

func TestSlice(t *testing.T) {
	recs := []manifest.Record{{ChipID: "A1"}, {ChipID: "A2"}}
	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{name: "ends in EOF", want: io.EOF},
		{name: "ends in Err", err: boom, want: boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var src manifest.Source = &Slice{Recs: recs, Err: tt.err}
			got, err := Collect(src.Next)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Collect error %v, want %v", err, tt.want)
			}
			if len(got) != 2 || got[0].ChipID != "A1" || got[1].ChipID != "A2" {
				t.Errorf("records %+v, want A1 then A2", got)
			}
			if _, err := src.Next(); !errors.Is(err, tt.want) {
				t.Errorf("Next after the last: %v, want %v", err, tt.want)
			}
			if err := src.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestDrain(t *testing.T) {
	recs := []manifest.Record{{ChipID: "A1"}, {ChipID: "A2"}}
	bad := &manifest.Error{File: "m.xml", Err: manifest.ErrMalformed}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{name: "accepted", want: true},
		{name: "ends in a kept error", err: bad, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &Slice{Recs: recs, Err: tt.err}
			seen := 0
			got := Drain(t, src.Next, "m.xml", len(recs), []error{manifest.ErrMalformed}, func(manifest.Record) { seen++ })
			if got != tt.want || seen != len(recs) {
				t.Errorf("Drain = %t after %d records, want %t after %d", got, seen, tt.want, len(recs))
			}
		})
	}
}
