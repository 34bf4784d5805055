package ratelimit_test

import (
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/thingpress/thingpress/internal/ratelimit"
)

func newSet(t *testing.T, quotas map[string]float64, opts ...ratelimit.Option) *ratelimit.Set {
	t.Helper()
	s, err := ratelimit.NewSet(quotas, opts...)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}

func TestSetGet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		quotas      map[string]float64
		opts        []ratelimit.Option
		op          string
		wantCeiling float64
		wantKnown   bool // Lookup finds it before Get
	}{
		{name: "configured", quotas: map[string]float64{"CreateThing": 42}, op: "CreateThing", wantCeiling: 42, wantKnown: true},
		{name: "configured with margin", quotas: map[string]float64{"CreateThing": 100}, opts: []ratelimit.Option{ratelimit.WithMargin(0.98)}, op: "CreateThing", wantCeiling: 98, wantKnown: true},
		{name: "missing but has an AWS default", quotas: map[string]float64{}, op: ratelimit.OpDescribeThing, wantCeiling: 350},
		{name: "unknown operation", quotas: nil, op: "ListThings", wantCeiling: ratelimit.UnknownOpRate},
		{name: "unknown operation with margin", quotas: nil, opts: []ratelimit.Option{ratelimit.WithMargin(0.5)}, op: "ListThings", wantCeiling: ratelimit.UnknownOpRate * 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSet(t, tt.quotas, tt.opts...)
			if _, ok := s.Lookup(tt.op); ok != tt.wantKnown {
				t.Errorf("Lookup(%q) found = %v, want %v", tt.op, ok, tt.wantKnown)
			}
			l := s.Get(tt.op)
			if got := l.Ceiling(); !approx(got, tt.wantCeiling) {
				t.Errorf("Get(%q).Ceiling() = %v, want %v", tt.op, got, tt.wantCeiling)
			}
			if again := s.Get(tt.op); again != l {
				t.Errorf("Get(%q) twice returned different limiters", tt.op)
			}
			if _, ok := s.Lookup(tt.op); !ok {
				t.Errorf("Lookup(%q) after Get found nothing", tt.op)
			}
			if _, ok := s.Stats()[tt.op]; !ok {
				t.Errorf("Stats() lacks %q", tt.op)
			}
		})
	}
}

func TestSetOperationsAreIndependent(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newSet(t, ratelimit.DefaultQuotas(), ratelimit.WithClock(clk.Now))
	throttled := []string{ratelimit.OpAttachPolicy, "ListThings"}
	for _, op := range throttled {
		report(s.Get(op), 0, 5)
	}
	clk.Advance(ratelimit.Window)
	for _, op := range throttled {
		l := s.Get(op)
		l.Throttled() // closes the window of throttles
		if l.Rate() >= l.Ceiling() {
			t.Fatalf("%s rate %v after a window of throttles, want below its ceiling", op, l.Rate())
		}
	}
	for _, op := range []string{ratelimit.OpRegisterCertificateWithoutCA, ratelimit.OpCreateThing, "ListThingGroups"} {
		s.Get(op).Succeeded()
		if l := s.Get(op); l.Rate() != l.Ceiling() {
			t.Errorf("%s rate %v, want its ceiling %v: another operation's throttle leaked", op, l.Rate(), l.Ceiling())
		}
	}
}

func TestSetConcurrentGet(t *testing.T) {
	t.Parallel()
	s := newSet(t, nil)
	ops := []string{"A", "B", ratelimit.OpCreateThing}
	got := make([][]*ratelimit.Limiter, 8)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for _, op := range ops {
				got[g] = append(got[g], s.Get(op))
			}
			_ = s.Stats()
			_ = s.Ops()
		})
	}
	wg.Wait()
	for g := range got {
		for i := range ops {
			if got[g][i] != got[0][i] {
				t.Fatalf("goroutines got different limiters for %q", ops[i])
			}
		}
	}
	if want := []string{"A", "B", ratelimit.OpCreateThing}; !slices.Equal(s.Ops(), want) {
		t.Errorf("Ops() = %v, want %v", s.Ops(), want)
	}
}

func TestNewSetRejectsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		quotas map[string]float64
		opts   []ratelimit.Option
	}{
		{name: "zero quota", quotas: map[string]float64{"CreateThing": 0}},
		{name: "NaN quota", quotas: map[string]float64{"CreateThing": math.NaN()}},
		{name: "empty operation name", quotas: map[string]float64{"": 10}},
		{name: "bad margin with no quotas", quotas: nil, opts: []ratelimit.Option{ratelimit.WithMargin(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ratelimit.NewSet(tt.quotas, tt.opts...); !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("NewSet = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDefaultQuotas(t *testing.T) {
	t.Parallel()
	want := map[string]float64{
		"RegisterCertificateWithoutCA": 10,
		"DescribeCertificate":          10,
		"AttachPolicy":                 15,
		"GetPolicy":                    10,
		"CreateThing":                  100,
		"AttachThingPrincipal":         100,
		"AddThingToThingGroup":         100,
		"DescribeThing":                350,
		"DescribeThingGroup":           100,
		"DescribeThingType":            100,
		"ListThings":                   10,
		"ListThingsInThingGroup":       25,
		"ListTargetsForPolicy":         10,
		"ListPrincipalThings":          10,
		"ListThingPrincipals":          10,
		"DetachPolicy":                 15,
		"RemoveThingFromThingGroup":    100,
		"DetachThingPrincipal":         100,
		"UpdateCertificate":            10,
		"DeleteCertificate":            10,
		"DeleteThing":                  100,
	}
	q := ratelimit.DefaultQuotas()
	if !maps.Equal(q, want) {
		t.Fatalf("DefaultQuotas() = %v, want %v", q, want)
	}
	q["CreateThing"] = 1
	if ratelimit.DefaultQuotas()["CreateThing"] != 100 {
		t.Error("changing a returned map changed the defaults")
	}
}

func TestForRegistrationRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    float64
		per  ratelimit.PerDevice
		want map[string]float64 // entries that differ from DefaultQuotas
	}{
		{name: "default rate", n: 10, per: ratelimit.PerDevice{Policies: 1, Groups: 1}, want: map[string]float64{}},
		{name: "slower than default", n: 2, per: ratelimit.PerDevice{Policies: 3, Groups: 2}, want: map[string]float64{
			"RegisterCertificateWithoutCA": 2,
		}},
		{name: "two policies push AttachPolicy above 15", n: 10, per: ratelimit.PerDevice{Policies: 2}, want: map[string]float64{
			"AttachPolicy": 20,
		}},
		{name: "raised to 50", n: 50, per: ratelimit.PerDevice{Policies: 1, Groups: 1}, want: map[string]float64{
			"RegisterCertificateWithoutCA": 50,
			"AttachPolicy":                 50,
		}},
		{name: "raised to 50 with three groups", n: 50, per: ratelimit.PerDevice{Policies: 2, Groups: 3}, want: map[string]float64{
			"RegisterCertificateWithoutCA": 50,
			"AttachPolicy":                 100,
			"AddThingToThingGroup":         150,
		}},
		{name: "raised to 200", n: 200, per: ratelimit.PerDevice{Policies: 1, Groups: 1}, want: map[string]float64{
			"RegisterCertificateWithoutCA": 200,
			"AttachPolicy":                 200,
			"CreateThing":                  200,
			"AttachThingPrincipal":         200,
			"AddThingToThingGroup":         200,
		}},
		{name: "no policies or groups", n: 200, per: ratelimit.PerDevice{}, want: map[string]float64{
			"RegisterCertificateWithoutCA": 200,
			"CreateThing":                  200,
			"AttachThingPrincipal":         200,
		}},
		{name: "zero means defaults", n: 0, per: ratelimit.PerDevice{Policies: 5}, want: map[string]float64{}},
		{name: "negative means defaults", n: -3, want: map[string]float64{}},
		{name: "NaN means defaults", n: math.NaN(), want: map[string]float64{}},
		{name: "infinity means defaults", n: math.Inf(1), want: map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := ratelimit.DefaultQuotas()
			maps.Copy(want, tt.want)
			got := ratelimit.ForRegistrationRate(tt.n, tt.per)
			if !maps.Equal(got, want) {
				t.Errorf("ForRegistrationRate(%v, %+v) = %v, want %v", tt.n, tt.per, got, want)
			}
			if _, err := ratelimit.NewSet(got); err != nil {
				t.Errorf("NewSet of the result: %v", err)
			}
		})
	}
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	one := ratelimit.PerDevice{Policies: 1, Groups: 1}
	tests := []struct {
		name string
		rate float64
		per  ratelimit.PerDevice
		most int
		want int
	}{
		{name: "default quota, five calls", rate: 10, per: one, most: 512, want: 20},
		{name: "more calls per device", rate: 10, per: ratelimit.PerDevice{Policies: 2, Groups: 3}, most: 512, want: 32},
		{name: "raised quota", rate: 100, per: one, most: 512, want: 200},
		{name: "capped", rate: 1000, per: one, most: 128, want: 128},
		{name: "slow rate keeps the floor", rate: 1, per: one, most: 512, want: 8},
		{name: "fraction rounds up", rate: 21, per: ratelimit.PerDevice{}, most: 512, want: 26},
		{name: "share of the quota", rate: 5, per: one, most: 128, want: 10},
		{name: "zero", rate: 0, per: one, most: 512, want: 8},
		{name: "NaN", rate: math.NaN(), per: one, most: 512, want: 8},
		{name: "infinity", rate: math.Inf(1), per: one, most: 512, want: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ratelimit.Workers(tt.rate, tt.per, tt.most); got != tt.want {
				t.Errorf("Workers(%v, %+v, %d) = %d, want %d", tt.rate, tt.per, tt.most, got, tt.want)
			}
		})
	}
}

func TestOperation(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{name: "exact", in: "AttachPolicy", want: "AttachPolicy", ok: true},
		{name: "any case", in: "registercertificatewithoutca", want: ratelimit.OpRegisterCertificateWithoutCA, ok: true},
		{name: "unknown", in: "Foo", ok: false},
		{name: "empty", in: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ratelimit.Operation(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Operation(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
	if ops := ratelimit.Operations(); len(ops) != len(ratelimit.DefaultQuotas()) || !slices.IsSorted(ops) {
		t.Errorf("Operations() = %v", ops)
	}
}
