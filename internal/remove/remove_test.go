package remove

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/closedport"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

func TestRemoveSteps(t *testing.T) {
	tg := awsiot.Target{Policies: []string{"p1", "p2"}, ThingType: "typ", ThingGroups: []string{"g"}}
	const arn = "arn:aws:iot:us-east-1:1:cert/x"
	tests := []struct {
		name  string
		plan  Plan
		want  []string
		thing string
	}{
		{name: "certificate not in AWS", plan: Plan{}, want: nil, thing: ThingNotOurs},
		{name: "attached to another device's thing", plan: Plan{CertFound: true, CertARN: arn, Active: true, OwnsThing: true, Foreign: []string{"x"}}, want: nil, thing: ThingDeleted},
		{name: "complete import", plan: Plan{CertFound: true, CertARN: arn, Active: true, OwnsThing: true},
			want:  []string{"rm:policy:p1", "rm:policy:p2", "rm:group:g", StepPrincipal, StepInactive, StepCert, StepThing},
			thing: ThingDeleted},
		{name: "thing with another principal keeps its groups", plan: Plan{CertFound: true, CertARN: arn, Active: true, OwnsThing: true, Shared: true},
			want:  []string{"rm:policy:p1", "rm:policy:p2", StepPrincipal, StepInactive, StepCert},
			thing: ThingKept},
		{name: "certificate on no thing", plan: Plan{CertFound: true, CertARN: arn, Active: true},
			want:  []string{"rm:policy:p1", "rm:policy:p2", StepInactive, StepCert},
			thing: ThingNotOurs},
		{name: "already inactive", plan: Plan{CertFound: true, CertARN: arn, OwnsThing: true},
			want:  []string{"rm:policy:p1", "rm:policy:p2", "rm:group:g", StepPrincipal, StepCert, StepThing},
			thing: ThingDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Steps(tg, tt.plan); !slices.Equal(got, tt.want) {
				t.Errorf("Steps = %q, want %q", got, tt.want)
			}
			if got := thingFate(tt.plan); got != tt.thing {
				t.Errorf("thingFate = %q, want %q", got, tt.thing)
			}
		})
	}
}

// TestRemovePlanRoundTrip checks that the markers a look records give back its
// plan, as a resumed run reads it.
func TestRemovePlanRoundTrip(t *testing.T) {
	for _, p := range []Plan{
		{CertFound: true, CertARN: "a", Active: true, OwnsThing: true},
		{CertFound: true, CertARN: "a", OwnsThing: true, Shared: true},
		{CertFound: true, CertARN: "a"},
	} {
		rec := state.Progress{CertificateARN: p.CertARN}
		rec.MarkDone(StepLook)
		for mark, on := range map[string]bool{markOwnsThing: p.OwnsThing, markShared: p.Shared, markActive: p.Active} {
			if on {
				rec.MarkDone(mark)
			}
		}
		if got := planOf(rec); got.CertARN != p.CertARN || got.Active != p.Active || got.OwnsThing != p.OwnsThing || got.Shared != p.Shared || !got.CertFound {
			t.Errorf("planOf(%v) = %+v, want %+v", rec.Done, got, p)
		}
	}
}

func TestRemoveUndoes(t *testing.T) {
	tests := []struct {
		step string
		want []string
	}{
		{PolicyStep("p"), []string{state.PolicyStep("p")}},
		{GroupStep("g"), []string{state.GroupStep("g")}},
		{StepPrincipal, []string{state.StepPrincipal}},
		{StepInactive, nil},
		{StepCert, []string{state.StepRegister}},
		{StepThing, []string{state.StepThing}},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			if got := undoes(tt.step); !slices.Equal(got, tt.want) {
				t.Errorf("undoes(%s) = %q, want %q", tt.step, got, tt.want)
			}
		})
	}
}

// TestRemoveInterrupted checks that a removal stopped before its next call
// answers the one interrupt sentinel that import and the Caller share,
// both before the look and when resuming after a recorded one.
func TestRemoveInterrupted(t *testing.T) {
	tests := []struct {
		name   string
		looked bool
	}{
		{name: "before the look", looked: false},
		{name: "after a recorded look", looked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := state.NewMemory()
			if tt.looked {
				if err := j.Update("c1", func(s *state.Progress) error {
					s.CertificateARN = "arn:aws:iot:us-east-1:1:cert/c1"
					s.MarkDone(StepLook)
					s.MarkDone(markOwnsThing)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			r := New(Config{Target: awsiot.Target{Policies: []string{"p"}}, State: j})
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := r.Remove(ctx, Device{ChipID: "chip", ThingName: "t", CertificateID: "c1"})
			if !errors.Is(err, awsiot.ErrInterrupted) {
				t.Fatalf("Remove = %v, want awsiot.ErrInterrupted", err)
			}
		})
	}
}

// failingJournal fails every Get, first calling before.
type failingJournal struct {
	before func()
	err    error
}

func (j failingJournal) Get(string) (state.Progress, bool, error) {
	if j.before != nil {
		j.before()
	}
	return state.Progress{}, false, j.err
}

func (j failingJournal) Update(string, func(*state.Progress) error) error { return j.err }

// TestRemoveAllEnds checks how a run over many devices ends: a state file
// error stops it and is returned, unless Ctrl-C came first; a run whose
// context ends is interrupted, or ends in the context's cause when that
// is not a cancel (a deadline). No device is reported in any of these.
func TestRemoveAllEnds(t *testing.T) {
	errJournal := errors.New("journal broken")
	tests := []struct {
		name    string
		journal func(cancel context.CancelFunc) state.Journal
		ctx     func(ctx context.Context) (context.Context, context.CancelFunc)
		want    error
	}{
		{
			name:    "state error",
			journal: func(context.CancelFunc) state.Journal { return failingJournal{err: errJournal} },
			ctx:     context.WithCancel,
			want:    errJournal,
		},
		{
			name:    "state error after Ctrl-C",
			journal: func(cancel context.CancelFunc) state.Journal { return failingJournal{before: cancel, err: errJournal} },
			ctx:     context.WithCancel,
			want:    ErrInterrupted,
		},
		{
			name:    "Ctrl-C",
			journal: func(context.CancelFunc) state.Journal { return state.NewMemory() },
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx, cancel
			},
			want: ErrInterrupted,
		},
		{
			name:    "deadline",
			journal: func(context.CancelFunc) state.Journal { return state.NewMemory() },
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithDeadline(ctx, time.Now().Add(-time.Second))
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			r := New(Config{Target: awsiot.Target{Policies: []string{"p"}}, State: tt.journal(cancel)})
			src := func(emit func(Device) error) error {
				for i := range 3 {
					if err := emit(Device{ChipID: fmt.Sprint("chip", i), ThingName: "t", CertificateID: fmt.Sprint("c", i)}); err != nil {
						return err
					}
				}
				return nil
			}
			var results []Result
			err := r.RemoveAll(ctx, 2, src, func(res Result) { results = append(results, res) })
			if !errors.Is(err, tt.want) || (!errors.Is(tt.want, ErrInterrupted) && errors.Is(err, ErrInterrupted)) {
				t.Errorf("RemoveAll = %v, want %v", err, tt.want)
			}
			if len(results) != 0 {
				t.Errorf("results %+v, want none", results)
			}
		})
	}
}

// TestLookAllUnreachable checks that a dry run whose endpoint refuses
// every connection ends in the device's error, which names the device
// and the address and keeps the chain (it Is awsiot.ErrUnreachable),
// not in the silence of an interrupted run.
func TestLookAllUnreachable(t *testing.T) {
	addr := closedport.Addr(t)
	client := iot.NewFromConfig(mototest.AWSConfig(t, "http://"+addr), func(o *iot.Options) { o.Retryer = aws.NopRetryer{} })
	c, err := awsiot.NewCaller(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.MaxAttempts, c.BackoffBase, c.BackoffMax = 2, time.Microsecond, time.Millisecond
	r := New(Config{API: client, Caller: c})
	src := func(emit func(Device) error) error {
		for i := range 3 {
			if err := emit(Device{ChipID: fmt.Sprint("chip", i), ThingName: "t", CertificateID: fmt.Sprint("c", i)}); err != nil {
				return err
			}
		}
		return nil
	}
	err = r.LookAll(t.Context(), 2, src, func(d Device, _ Plan) { t.Errorf("a plan for %s", d.ChipID) })
	if !errors.Is(err, awsiot.ErrUnreachable) || !strings.HasPrefix(err.Error(), "device chip") ||
		!strings.Contains(err.Error(), ": endpoint unreachable: cannot connect to "+addr) {
		t.Errorf("LookAll = %v, want a device's error naming %s that Is awsiot.ErrUnreachable", err, addr)
	}
}
