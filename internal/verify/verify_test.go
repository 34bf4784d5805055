package verify

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/thingpress/thingpress/internal/awsiot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const arn = "arn:aws:iot:us-east-1:123456789012:cert/abc"

var target = awsiot.Target{Policies: []string{"pol"}, ThingType: "typ", ThingGroups: []string{"grp"}}

// fullIndex has thing "t" in the group and of the type, and arn as the
// policy's target.
func fullIndex() *Index {
	return &Index{
		InGroup: map[string]map[string]bool{"grp": {"t": true}},
		Targets: map[string]map[string]bool{"pol": {arn: true}},
		OfType:  map[string]bool{"t": true},
	}
}

func TestVerifyJudge(t *testing.T) {
	dev := Device{ChipID: "c", ThingName: "t", CertificateID: "abc"}
	good := Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"t"}}
	tests := []struct {
		name     string
		facts    Facts
		index    func(*Index)
		target   *awsiot.Target
		want     Status
		problems []string
	}{
		{name: "complete", facts: good, want: Complete, problems: []string{}},
		{name: "nothing there", facts: Facts{Described: true}, want: Missing,
			problems: []string{"certificate not registered", "thing does not exist"}},
		{name: "thing without certificate", facts: Facts{Described: true, ThingFound: true, ThingType: "typ"}, want: Incomplete,
			problems: []string{"certificate not registered"}},
		{name: "certificate without thing", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Described: true}, want: Incomplete,
			problems: []string{"thing does not exist"}},
		{name: "inactive", facts: Facts{CertFound: true, CertStatus: "INACTIVE", CertARN: arn, Attached: []string{"t"}}, want: Incomplete,
			problems: []string{"certificate is INACTIVE"}},
		{name: "not attached", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Described: true, ThingFound: true, ThingType: "typ"}, want: Incomplete,
			problems: []string{"certificate not attached to the thing"}},
		{name: "attached to two things", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"t", "other"}}, want: Incomplete,
			problems: []string{"certificate attached to 2 things, also to other"}},
		{name: "attached to five things", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"e", "t", "d", "c", "b"}}, want: Incomplete,
			problems: []string{"certificate attached to 5 things, also to b, c, d and 1 more"}},
		{name: "attached to another thing only", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"x"}, Described: true, ThingFound: true, ThingType: "typ"}, want: Incomplete,
			problems: []string{"certificate not attached to the thing", "certificate attached to another thing, x"}},
		{name: "other type", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"t"}, Described: true, ThingFound: true, ThingType: "old"},
			index: func(i *Index) { delete(i.OfType, "t") }, want: Incomplete, problems: []string{"thing type is old, want typ"}},
		{name: "no type", facts: Facts{CertFound: true, CertStatus: "ACTIVE", CertARN: arn, Attached: []string{"t"}, Described: true, ThingFound: true},
			index: func(i *Index) { delete(i.OfType, "t") }, want: Incomplete, problems: []string{"thing has no thing type, want typ"}},
		{name: "policy detached", facts: good, index: func(i *Index) { i.Targets["pol"] = map[string]bool{} }, want: Incomplete,
			problems: []string{"policy pol not attached"}},
		{name: "out of the group", facts: good, index: func(i *Index) { i.InGroup["grp"] = map[string]bool{} }, want: Incomplete,
			problems: []string{"thing not in group grp"}},
		{name: "no target to check", facts: good, target: &awsiot.Target{}, index: func(i *Index) { *i = Index{} }, want: Complete, problems: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := fullIndex()
			if tt.index != nil {
				tt.index(idx)
			}
			tg := target
			if tt.target != nil {
				tg = *tt.target
			}
			r := Judge(dev, tt.facts, tg, idx)
			if r.Status != tt.want || !slices.Equal(r.Problems, tt.problems) {
				t.Errorf("Judge = %s %q, want %s %q", r.Status, r.Problems, tt.want, tt.problems)
			}
			if r.ThingName != "t" || r.CertificateID != "abc" || r.ChipID != "c" {
				t.Errorf("Judge names %+v", r)
			}
		})
	}
}

func TestVerifyNeedDescribe(t *testing.T) {
	tests := []struct {
		name     string
		attached []string
		ofType   bool
		target   awsiot.Target
		want     bool
	}{
		{name: "attached and of the type", attached: []string{"t"}, ofType: true, target: target, want: false},
		{name: "not attached", attached: nil, ofType: true, target: target, want: true},
		{name: "attached to another", attached: []string{"x"}, ofType: true, target: target, want: true},
		{name: "not among the type's things", attached: []string{"t"}, ofType: false, target: target, want: true},
		{name: "no type asked", attached: []string{"t"}, ofType: false, target: awsiot.Target{}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := fullIndex()
			if !tt.ofType {
				delete(idx.OfType, "t")
			}
			if got := NeedDescribe(Facts{Attached: tt.attached}, "t", tt.target, idx); got != tt.want {
				t.Errorf("NeedDescribe = %v, want %v", got, tt.want)
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update to accept):\ngot:\n%s\nwant:\n%s", p, t.Name(), got, want)
	}
}

func TestVerifyWriteTable(t *testing.T) {
	calls := map[string]int64{"DescribeCertificate": 4, "ListPrincipalThings": 3, "DescribeThing": 2, "ListThingsInThingGroup": 1, "ListTargetsForPolicy": 1, "ListThings": 1}
	t.Run("some not complete", func(t *testing.T) {
		s := Summary{Target: target, Invalid: 2, Calls: calls, Seconds: 1.25}
		for _, r := range []Result{
			{ThingName: "b-thing", CertificateID: "0123456789abcdef0123", Status: Incomplete, Problems: []string{"thing not in group grp"}},
			{ThingName: "a-thing", CertificateID: "fedcba9876543210fedc", Status: Missing, Problems: []string{"certificate not registered", "thing does not exist"}},
			{ThingName: "c-thing", CertificateID: "1111", Status: Complete, Problems: []string{}},
			{ThingName: "d-thing", CertificateID: "2222", Status: Incomplete, Problems: []string{"policy pol not attached", "certificate attached to 2 things, also to x"}},
		} {
			s.Add(r)
		}
		if s.OK() {
			t.Error("OK with devices not complete")
		}
		var b bytes.Buffer
		if err := s.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, "table-incomplete.golden", b.Bytes())
	})
	t.Run("all complete", func(t *testing.T) {
		s := Summary{Target: awsiot.Target{Policies: []string{"pol"}}, Calls: map[string]int64{"DescribeCertificate": 2, "ListPrincipalThings": 2, "ListTargetsForPolicy": 1}, Seconds: 0.5}
		s.Add(Result{ThingName: "a", Status: Complete})
		s.Add(Result{ThingName: "b", Status: Complete})
		if !s.OK() {
			t.Error("not OK with every device complete")
		}
		var b bytes.Buffer
		if err := s.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, "table-complete.golden", b.Bytes())
	})
}
