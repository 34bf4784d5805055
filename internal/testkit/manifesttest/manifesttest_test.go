package manifesttest

import (
	"errors"
	"io"
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
