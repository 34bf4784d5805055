package envtest

import (
	"maps"
	"testing"
)

func TestWith(t *testing.T) {
	base := map[string]string{"A": "1", "B": "2"}
	got := With(base, "B", "3", "C", "4")
	if want := map[string]string{"A": "1", "B": "3", "C": "4"}; !maps.Equal(got, want) {
		t.Errorf("With = %v, want %v", got, want)
	}
	if want := map[string]string{"A": "1", "B": "2"}; !maps.Equal(base, want) {
		t.Errorf("base changed to %v", base)
	}
	if got := With(nil, "A", "1"); got["A"] != "1" {
		t.Errorf("With(nil) = %v", got)
	}
}
