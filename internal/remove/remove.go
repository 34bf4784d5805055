package remove

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/backoff"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/workers"
)

// Steps recorded in a device's state record while it is removed. The
// import's own steps are dropped as the removal undoes them.
const (
	// StepLook is the look at the certificate and its Things; with it the
	// record holds the certificate's ARN and the markers below.
	StepLook = "rm:look"
	// Markers of what the look found.
	markOwnsThing = "rm:owns-thing"   // the certificate is attached to the device's Thing
	markShared    = "rm:thing-shared" // that Thing has other principals too
	markActive    = "rm:active"       // the certificate was ACTIVE
	StepPrincipal = "rm:principal"
	StepInactive  = "rm:inactive"
	StepCert      = "rm:certificate"
	StepThing     = "rm:thing"
)

// PolicyStep is the step of detaching the named policy.
func PolicyStep(p string) string { return "rm:policy:" + p }

// GroupStep is the step of taking the Thing out of the named group.
func GroupStep(g string) string { return "rm:group:" + g }

// Status of a device after a removal.
type Status string

// The statuses a device ends in.
const (
	Removed Status = "removed" // its certificate is deleted (and its Thing, unless kept)
	Absent  Status = "absent"  // its certificate is not in AWS: nothing to do
	Refused Status = "refused" // its certificate is attached to another device's Thing
	Failed  Status = "failed"  // an AWS call failed; running again goes on
	Skipped Status = "skipped" // invalid in the manifest: not looked at
)

// What became of a device's Thing.
const (
	ThingDeleted = "deleted"
	ThingKept    = "kept: other principals are attached"
	ThingNotOurs = "not touched: the certificate was not attached to it"
)

// Device is what remove needs of one valid device.
type Device struct {
	ChipID        string
	ThingName     string
	CertificateID string // hex SHA-256 of the DER: AWS IoT's certificate ID
}

// Result is the outcome for one device.
type Result struct {
	ChipID         string   `json:"chip_id"`
	ThingName      string   `json:"thing_name"`
	CertificateID  string   `json:"certificate_id"`
	CertificateARN string   `json:"certificate_arn,omitempty"`
	Status         Status   `json:"status"`
	Thing          string   `json:"thing,omitempty"`
	Done           []string `json:"done"`
	Error          string   `json:"error,omitempty"`
	// Resumed is set when an earlier run had begun the device.
	Resumed bool `json:"resumed,omitempty"`
}

// Plan is what the look found, from which the steps follow.
type Plan struct {
	CertFound bool
	CertARN   string
	Active    bool
	// Foreign are Things other than the device's the certificate is
	// attached to: then nothing is removed.
	Foreign []string
	// OwnsThing says the certificate is attached to the device's Thing;
	// Shared that the Thing has other principals too.
	OwnsThing bool
	Shared    bool
}

// Steps lists the steps that remove a device, in order, as plan and t
// call for them.
func Steps(t awsiot.Target, p Plan) []string {
	if !p.CertFound || len(p.Foreign) > 0 {
		return nil
	}
	var steps []string
	for _, pol := range t.Policies {
		steps = append(steps, PolicyStep(pol))
	}
	ours := p.OwnsThing && !p.Shared
	if ours {
		for _, g := range t.ThingGroups {
			steps = append(steps, GroupStep(g))
		}
	}
	if p.OwnsThing {
		steps = append(steps, StepPrincipal)
	}
	if p.Active {
		steps = append(steps, StepInactive)
	}
	steps = append(steps, StepCert)
	if ours {
		steps = append(steps, StepThing)
	}
	return steps
}

// planOf reads back the plan a look recorded.
func planOf(rec state.Progress) Plan {
	return Plan{CertFound: true, CertARN: rec.CertificateARN, Active: rec.Has(markActive), OwnsThing: rec.Has(markOwnsThing), Shared: rec.Has(markShared)}
}

// thingFate says what becomes of the device's Thing under p.
func thingFate(p Plan) string {
	switch {
	case !p.OwnsThing:
		return ThingNotOurs
	case p.Shared:
		return ThingKept
	}
	return ThingDeleted
}

// undoes maps a removal step to the import steps it undoes.
func undoes(step string) []string {
	switch {
	case strings.HasPrefix(step, "rm:policy:"):
		return []string{state.PolicyStep(strings.TrimPrefix(step, "rm:policy:"))}
	case strings.HasPrefix(step, "rm:group:"):
		return []string{state.GroupStep(strings.TrimPrefix(step, "rm:group:"))}
	case step == StepPrincipal:
		return []string{state.StepPrincipal}
	case step == StepCert:
		return []string{state.StepRegister}
	case step == StepThing:
		return []string{state.StepThing}
	}
	return nil
}

// Config configures a Remover.
type Config struct {
	API    awsiot.RemoveAPI
	Target awsiot.Target
	Caller *awsiot.Caller
	State  state.Journal // nil for a dry run: Look only
	Logger *slog.Logger
	// ConflictWait bounds the retries of DeleteCertificate while AWS still
	// counts a just-detached Thing (detaching takes effect
	// asynchronously).
	ConflictWait time.Duration
}

// Remover removes devices. Its methods are safe for concurrent use.
type Remover struct{ cfg Config }

// New returns a Remover.
func New(cfg Config) *Remover {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConflictWait <= 0 {
		cfg.ConflictWait = 30 * time.Second
	}
	return &Remover{cfg: cfg}
}

// ErrPolicyLeft means AWS refused to delete a certificate because a policy
// the target does not name is attached to it.
var ErrPolicyLeft = errors.New("a policy not given with --policy is attached to the certificate")

// ErrInterrupted means the run stopped before the device was done; its
// completed steps are recorded. It is the Caller's sentinel, as the
// importer's is, so one errors.Is serves every command.
var ErrInterrupted = awsiot.ErrInterrupted

// Look makes the read-only calls that tell what removing d takes:
// DescribeCertificate, ListPrincipalThings, and ListThingPrincipals when
// the certificate is attached to d's Thing.
func (r *Remover) Look(ctx context.Context, d Device) (Plan, error) {
	var p Plan
	c := r.cfg.Caller
	err := c.Do(ctx, ratelimit.OpDescribeCertificate, func(ctx context.Context) error {
		out, err := r.cfg.API.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(d.CertificateID)})
		if err == nil && out.CertificateDescription != nil {
			p.CertFound = true
			p.CertARN = aws.ToString(out.CertificateDescription.CertificateArn)
			p.Active = out.CertificateDescription.Status == types.CertificateStatusActive
		}
		return err
	})
	switch {
	case awsiot.NotFound(err):
		return Plan{}, nil
	case err != nil:
		return p, err
	}
	var things []string
	err = c.Pages(ctx, ratelimit.OpListPrincipalThings, func(ctx context.Context, next *string) (*string, error) {
		out, err := r.cfg.API.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(p.CertARN), MaxResults: aws.Int32(250), NextToken: next})
		if err != nil {
			return nil, err
		}
		things = append(things, out.Things...)
		return out.NextToken, nil
	})
	if err != nil {
		return p, err
	}
	for _, t := range things {
		if t == d.ThingName {
			p.OwnsThing = true
		} else {
			p.Foreign = append(p.Foreign, t)
		}
	}
	if !p.OwnsThing {
		return p, nil
	}
	var principals []string
	err = c.Pages(ctx, ratelimit.OpListThingPrincipals, func(ctx context.Context, next *string) (*string, error) {
		out, err := r.cfg.API.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(d.ThingName), MaxResults: aws.Int32(250), NextToken: next})
		if err != nil {
			return nil, err
		}
		principals = append(principals, out.Principals...)
		return out.NextToken, nil
	})
	if err != nil {
		return p, err
	}
	p.Shared = slices.ContainsFunc(principals, func(s string) bool { return s != p.CertARN })
	return p, nil
}

// Remove removes d. It returns an error that Is ErrInterrupted when ctx
// is done, or the endpoint became unreachable, before d is, and other
// errors only when the state file fails.
func (r *Remover) Remove(ctx context.Context, d Device) (Result, error) {
	res := Result{ChipID: d.ChipID, ThingName: d.ThingName, CertificateID: d.CertificateID, Done: []string{}}
	rec, _, err := r.cfg.State.Get(d.CertificateID)
	if err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	var p Plan
	if rec.Has(StepLook) {
		res.Resumed = true
		p = planOf(rec)
	} else {
		if ctx.Err() != nil {
			return res, ErrInterrupted
		}
		if p, err = r.Look(ctx, d); err != nil {
			return r.fail(ctx, res, "look", err)
		}
		switch {
		case !p.CertFound:
			res.Status = Absent
			return res, nil
		case len(p.Foreign) > 0:
			slices.Sort(p.Foreign)
			res.Status, res.CertificateARN = Refused, p.CertARN
			res.Error = fmt.Sprintf("certificate is attached to thing %s, not this device's %s: detach it first", strings.Join(p.Foreign, ", "), d.ThingName)
			return res, nil
		}
		// The look is recorded before anything changes: a run killed
		// after a detach would otherwise find the Thing no longer ours.
		if err := r.cfg.State.Update(d.CertificateID, func(s *state.Progress) error {
			s.CertificateID, s.CertificateARN = d.CertificateID, p.CertARN
			s.MarkDone(StepLook)
			for mark, on := range map[string]bool{markOwnsThing: p.OwnsThing, markShared: p.Shared, markActive: p.Active} {
				if on {
					s.MarkDone(mark)
				}
			}
			rec = *s
			return nil
		}); err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
	}
	res.CertificateARN, res.Thing = p.CertARN, thingFate(p)
	for _, step := range Steps(r.cfg.Target, p) {
		if rec.Has(step) {
			continue
		}
		if ctx.Err() != nil {
			return res, ErrInterrupted
		}
		if err := r.do(ctx, d, p, step); err != nil {
			return r.fail(ctx, res, step, err)
		}
		if err := r.cfg.State.Update(d.CertificateID, func(s *state.Progress) error {
			s.MarkDone(step)
			s.Done = slices.DeleteFunc(s.Done, func(x string) bool { return slices.Contains(undoes(step), x) })
			return nil
		}); err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
		res.Done = append(res.Done, step)
	}
	// Removed: the record starts afresh, for a later import.
	if err := r.cfg.State.Update(d.CertificateID, func(s *state.Progress) error {
		*s = state.Progress{}
		return nil
	}); err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	res.Status = Removed
	return res, nil
}

func (r *Remover) fail(ctx context.Context, res Result, step string, err error) (Result, error) {
	switch {
	case errors.Is(err, ErrInterrupted):
		// The endpoint became unreachable (awsiot.ErrUnreachable), or ctx
		// ended while the call waited.
		return res, err
	case ctx.Err() != nil:
		return res, ErrInterrupted
	}
	res.Status, res.Error = Failed, step+": "+awsiot.Message(err)
	if errors.Is(err, ErrPolicyLeft) {
		res.Error += " (" + ErrPolicyLeft.Error() + ")"
	}
	if uerr := r.cfg.State.Update(res.CertificateID, func(s *state.Progress) error {
		if s.Has(StepLook) {
			s.Error = res.Error
		}
		return nil
	}); uerr != nil {
		return res, fmt.Errorf("state: %w", uerr)
	}
	return res, nil
}

// do makes one step. "Not found" counts as done: the step, or a later
// one, was made by a run whose answer was lost.
func (r *Remover) do(ctx context.Context, d Device, p Plan, step string) error {
	c, api := r.cfg.Caller, r.cfg.API
	var err error
	switch {
	case strings.HasPrefix(step, "rm:policy:"):
		pol := strings.TrimPrefix(step, "rm:policy:")
		err = c.Do(ctx, ratelimit.OpDetachPolicy, func(ctx context.Context) error {
			_, err := api.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(pol), Target: aws.String(p.CertARN)})
			return err
		})
	case strings.HasPrefix(step, "rm:group:"):
		g := strings.TrimPrefix(step, "rm:group:")
		err = c.Do(ctx, ratelimit.OpRemoveThingFromThingGroup, func(ctx context.Context) error {
			_, err := api.RemoveThingFromThingGroup(ctx, &iot.RemoveThingFromThingGroupInput{ThingGroupName: aws.String(g), ThingName: aws.String(d.ThingName)})
			return err
		})
	case step == StepPrincipal:
		err = c.Do(ctx, ratelimit.OpDetachThingPrincipal, func(ctx context.Context) error {
			_, err := api.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String(d.ThingName), Principal: aws.String(p.CertARN)})
			return err
		})
	case step == StepInactive:
		err = c.Do(ctx, ratelimit.OpUpdateCertificate, func(ctx context.Context) error {
			_, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(d.CertificateID), NewStatus: types.CertificateStatusInactive})
			return err
		})
	case step == StepCert:
		err = r.deleteCertificate(ctx, d.CertificateID)
	case step == StepThing:
		err = c.Do(ctx, ratelimit.OpDeleteThing, func(ctx context.Context) error {
			_, err := api.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(d.ThingName)})
			return err
		})
	default:
		return fmt.Errorf("unknown step %q", step)
	}
	if awsiot.NotFound(err) {
		return nil
	}
	return err
}

// deleteCertificate deletes the certificate, retrying while AWS still
// counts a Thing detached a moment ago (DeleteConflictException).
func (r *Remover) deleteCertificate(ctx context.Context, id string) error {
	deadline := time.Now().Add(r.cfg.ConflictWait)
	for attempt := 0; ; attempt++ {
		err := r.cfg.Caller.Do(ctx, ratelimit.OpDeleteCertificate, func(ctx context.Context) error {
			_, err := r.cfg.API.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id)})
			return err
		})
		if awsconf.Code(err) != "DeleteConflictException" || time.Now().After(deadline) {
			return err
		}
		// A policy still attached is one the target does not name: no
		// wait helps.
		if strings.Contains(strings.ToLower(awsiot.Message(err)), "polic") {
			return fmt.Errorf("%w: %w", ErrPolicyLeft, err)
		}
		r.cfg.Logger.Debug("certificate still attached; retrying its deletion", "certificate_id", id, "err", awsiot.Message(err))
		if !backoff.Sleep(ctx, backoff.Equal(500*time.Millisecond, 5*time.Second, attempt)) {
			return err
		}
	}
}

// RemoveAll removes every device src emits with workers goroutines and
// hands each result to onResult, one call at a time. It returns
// ErrInterrupted when ctx was done before every device was, and stops at
// a state file error.
func (r *Remover) RemoveAll(ctx context.Context, workers int, src func(emit func(Device) error) error, onResult func(Result)) error {
	err := each(ctx, workers, src, onResult, r.Remove)
	if cause := context.Cause(ctx); errors.Is(err, ErrInterrupted) && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // ctx ended other than by Ctrl-C or a cancel (a deadline)
	}
	return err
}

// LookAll makes the look of every device src emits with workers
// goroutines, changing nothing, and hands each plan to fn, one call at a
// time. It stops at the first AWS call that fails for good.
func (r *Remover) LookAll(ctx context.Context, workers int, src func(emit func(Device) error) error, fn func(Device, Plan)) error {
	type looked struct {
		d Device
		p Plan
	}
	err := each(ctx, workers, src, func(l looked) { fn(l.d, l.p) }, func(ctx context.Context, d Device) (looked, error) {
		p, err := r.Look(ctx, d)
		if err != nil {
			return looked{}, fmt.Errorf("device %s: %w", d.ChipID, awsiot.Reason(err))
		}
		return looked{d, p}, nil
	})
	if ctx.Err() != nil && errors.Is(err, ErrInterrupted) {
		return context.Cause(ctx)
	}
	return err // a device's, the endpoint unreachable among them
}

// each runs do on every device src emits on the worker pool import and
// bind use. An error of do once the run is stopping (ctx is done, or
// another device stopped it) is the stop's, not one of its own: it came
// from the calls cut off.
func each[R any](ctx context.Context, n int, src func(emit func(Device) error) error, onResult func(R), do func(context.Context, Device) (R, error)) error {
	return workers.Each(ctx, n, ErrInterrupted, onResult,
		func(_ context.Context, send func(Device) error, _ func(R)) error { return src(send) },
		func(runCtx context.Context, d *Device) (R, error) {
			res, err := do(runCtx, *d)
			if err != nil && runCtx.Err() != nil {
				return res, ErrInterrupted
			}
			return res, err
		})
}
