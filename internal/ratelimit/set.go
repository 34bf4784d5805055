package ratelimit

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
)

// AWS IoT operation names, as they appear in the quota table and in
// ThrottlingException messages.
const (
	OpRegisterCertificateWithoutCA = "RegisterCertificateWithoutCA"
	OpDescribeCertificate          = "DescribeCertificate"
	OpAttachPolicy                 = "AttachPolicy"
	OpGetPolicy                    = "GetPolicy"
	OpCreateThing                  = "CreateThing"
	OpAttachThingPrincipal         = "AttachThingPrincipal"
	OpAddThingToThingGroup         = "AddThingToThingGroup"
	OpDescribeThing                = "DescribeThing"
	OpDescribeThingGroup           = "DescribeThingGroup"
	OpDescribeThingType            = "DescribeThingType"

	// The calls of verify and remove.
	OpListThings                = "ListThings"
	OpListThingsInThingGroup    = "ListThingsInThingGroup"
	OpListTargetsForPolicy      = "ListTargetsForPolicy"
	OpListPrincipalThings       = "ListPrincipalThings"
	OpListThingPrincipals       = "ListThingPrincipals"
	OpDetachPolicy              = "DetachPolicy"
	OpRemoveThingFromThingGroup = "RemoveThingFromThingGroup"
	OpDetachThingPrincipal      = "DetachThingPrincipal"
	OpUpdateCertificate         = "UpdateCertificate"
	OpDeleteCertificate         = "DeleteCertificate"
	OpDeleteThing               = "DeleteThing"
)

// UnknownOpRate is the ceiling of an operation that neither the Set's
// quotas nor DefaultQuotas name: the lowest default quota in the table, so
// a forgotten entry makes an import slow rather than throttled.
const UnknownOpRate = 10

// Operations lists the operations DefaultQuotas names, sorted.
func Operations() []string {
	return slices.Sorted(maps.Keys(DefaultQuotas()))
}

// Operation returns the operation name that s spells, in any letter case,
// and whether it is one of Operations.
func Operation(s string) (string, bool) {
	for _, op := range Operations() {
		if strings.EqualFold(op, s) {
			return op, true
		}
	}
	return "", false
}

// DefaultQuotas returns AWS IoT's default per-account, per-region quotas in
// requests per second for the operations an import, verify and remove use
// (AWS IoT Core endpoints and quotas, API throttling limits). The map is a
// new copy each call.
func DefaultQuotas() map[string]float64 {
	return map[string]float64{
		OpRegisterCertificateWithoutCA: 10,
		OpDescribeCertificate:          10,
		OpAttachPolicy:                 15,
		OpGetPolicy:                    10,
		OpCreateThing:                  100,
		OpAttachThingPrincipal:         100,
		OpAddThingToThingGroup:         100,
		OpDescribeThing:                350,
		OpDescribeThingGroup:           100,
		OpDescribeThingType:            100,
		OpListThings:                   10,
		OpListThingsInThingGroup:       25,
		OpListTargetsForPolicy:         10,
		OpListPrincipalThings:          10,
		OpListThingPrincipals:          10,
		OpDetachPolicy:                 15,
		OpRemoveThingFromThingGroup:    100,
		OpDetachThingPrincipal:         100,
		OpUpdateCertificate:            10,
		OpDeleteCertificate:            10,
		OpDeleteThing:                  100,
	}
}

// PerDevice counts the calls one imported device makes to the operations
// whose count depends on the import's configuration.
type PerDevice struct {
	Policies int // AttachPolicy calls: policies attached to each certificate
	Groups   int // AddThingToThingGroup calls: thing groups per thing
}

// Calls is the number of IoT calls that import one device.
func (p PerDevice) Calls() int { return 3 + p.Policies + p.Groups }

// Workers returns how many devices to import at once to keep the
// registration rate busy: a device takes about Calls x latency, so
// rate x Calls x latency devices must be in flight; four times that (at
// 100 ms) leaves room for slow answers and for waiting on the other
// buckets. The result is at least 8 and at most most; idle workers cost
// nothing.
func Workers(rate float64, per PerDevice, most int) int {
	n := 8
	if rate > 0 && !math.IsInf(rate, 1) {
		n = max(int(math.Ceil(rate*float64(per.Calls())*0.1*4)), n)
	}
	return min(n, most)
}

// ForRegistrationRate returns the quota table for the CLI's --rate n: the
// user states that RegisterCertificateWithoutCA may run at n per second
// (lower than the default to leave room for others, or higher because the
// account's quota was raised).
//
//   - RegisterCertificateWithoutCA runs at n.
//   - AttachPolicy runs at max(15, n*per.Policies). It is a raisable quota
//     too, and an account that raised registration without raising it would
//     make AttachPolicy the bottleneck; if it was not raised, AWS throttles
//     and the limiter settles near the real quota by itself.
//   - CreateThing and AttachThingPrincipal run at max(100, n), and
//     AddThingToThingGroup at max(100, n*per.Groups): they only move above
//     their default when registration alone would outpace them.
//   - Everything else (DescribeCertificate, UpdateCertificate, the
//     preflight Get/Describe calls) keeps its default: an import does not
//     call them per device.
//
// A non-positive, NaN or infinite n returns DefaultQuotas unchanged.
func ForRegistrationRate(n float64, per PerDevice) map[string]float64 {
	q := DefaultQuotas()
	if !(n > 0) || math.IsInf(n, 1) {
		return q
	}
	q[OpRegisterCertificateWithoutCA] = n
	q[OpAttachPolicy] = max(q[OpAttachPolicy], n*float64(per.Policies))
	q[OpCreateThing] = max(q[OpCreateThing], n)
	q[OpAttachThingPrincipal] = max(q[OpAttachThingPrincipal], n)
	q[OpAddThingToThingGroup] = max(q[OpAddThingToThingGroup], n*float64(per.Groups))
	return q
}

// Set holds one Limiter per operation. It is safe for concurrent use.
type Set struct {
	opts []Option

	mu sync.RWMutex
	m  map[string]*Limiter
}

// NewSet returns a Set with a Limiter for each operation in quotas
// (requests per second); opts apply to each of them, and to those Get makes
// later. Every quota must be positive and finite.
func NewSet(quotas map[string]float64, opts ...Option) (*Set, error) {
	if _, err := newConfig(opts); err != nil {
		return nil, err
	}
	s := &Set{opts: opts, m: make(map[string]*Limiter, len(quotas))}
	for op, q := range quotas {
		if op == "" {
			return nil, fmt.Errorf("quota %v for an empty operation name: %w", q, ErrInvalid)
		}
		l, err := newLimiter(op, q, opts)
		if err != nil {
			return nil, err
		}
		s.m[op] = l
	}
	return s, nil
}

// Get returns the Limiter of op. An operation the Set was not given gets a
// Limiter of its own, made on first use, at its DefaultQuotas rate if it has
// one and at UnknownOpRate otherwise. It is never shared with other
// operations, so throttling of one never slows another, and it is never an
// error: a missing entry makes an import slower, not wrong. Callers that
// want to know use Lookup.
func (s *Set) Get(op string) *Limiter {
	if l, ok := s.Lookup(op); ok {
		return l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.m[op]; ok {
		return l
	}
	q, ok := DefaultQuotas()[op]
	if !ok {
		q = UnknownOpRate
	}
	l, err := newLimiter(op, q, s.opts)
	if err != nil {
		// The options were checked by NewSet and q is a positive constant.
		panic(fmt.Sprintf("ratelimit: limiter for %q: %v", op, err))
	}
	s.m[op] = l
	return l
}

// Lookup returns the Limiter of op if the Set has one.
func (s *Set) Lookup(op string) (*Limiter, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.m[op]
	return l, ok
}

// Ops returns the operations that have a Limiter, sorted.
func (s *Set) Ops() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.m))
}

// Stats returns the counters of every Limiter, by operation.
func (s *Set) Stats() map[string]Stats {
	s.mu.RLock()
	m := maps.Clone(s.m)
	s.mu.RUnlock()
	out := make(map[string]Stats, len(m))
	for op, l := range m {
		out[op] = l.Stats()
	}
	return out
}
