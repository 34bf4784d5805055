package stacktest

import (
	"maps"
	"slices"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// AssertThings checks with boto3, in one request, that moto holds exactly
// things, each a complete Thing: iottest's thing type, the attributes
// given (a value of "" stands for any), one ACTIVE certificate with
// iottest's policy, a member of iottest's group. Without python3 and
// boto3 the test is skipped, except under CI=true, where it fails.
func (s *Stack) AssertThings(t testing.TB, things []Thing) {
	t.Helper()
	st := iottest.BotoState(t, s.Moto.URL, iottest.Group)
	if len(st.Things) != len(things) || len(st.Certificates) != len(things) || len(st.Group) != len(things) {
		t.Errorf("moto has %d things (%d in %s) and %d certificates, want %d",
			len(st.Things), len(st.Group), iottest.Group, len(st.Certificates), len(things))
	}
	for arn, status := range st.Certificates {
		if status != "ACTIVE" {
			t.Errorf("certificate %s is %s, want ACTIVE", arn, status)
		}
	}
	for _, want := range things {
		th, ok := st.Things[want.Name]
		switch {
		case !ok:
			t.Errorf("no thing %s", want.Name)
			continue
		case th.Type != iottest.ThingType || len(th.Principals) != 1 || !slices.Equal(th.Policies, []string{iottest.Policy}):
			t.Errorf("thing %s: type %q, principals %v, policies %v", want.Name, th.Type, th.Principals, th.Policies)
		case !slices.Contains(st.Group, want.Name):
			t.Errorf("thing %s is not in %s", want.Name, iottest.Group)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(th.Attributes)), slices.Sorted(maps.Keys(want.Attributes))) {
			t.Errorf("thing %s: attributes %v, want %v", want.Name, th.Attributes, want.Attributes)
			continue
		}
		for k, v := range want.Attributes {
			if v != "" && th.Attributes[k] != v {
				t.Errorf("thing %s: attribute %s = %q, want %q", want.Name, k, th.Attributes[k], v)
			}
		}
	}
}
