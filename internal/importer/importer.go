package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/validate"
)

// Operation names, as AWS calls them and as the rate limits are keyed.
const (
	OpRegister  = ratelimit.OpRegisterCertificateWithoutCA
	OpThing     = ratelimit.OpCreateThing
	OpPrincipal = ratelimit.OpAttachThingPrincipal
	OpPolicy    = ratelimit.OpAttachPolicy
	OpGroup     = ratelimit.OpAddThingToThingGroup
	// OpDescribe is only called after a killed run (see registeredSince).
	OpDescribe = ratelimit.OpDescribeCertificate
	// OpActivate is only called after import --register-only --inactive.
	OpActivate = ratelimit.OpUpdateCertificate
)

// Status of a device after an import.
type Status string

// The statuses a device ends in.
const (
	Imported Status = "imported" // registered by thingpress, now complete
	Exists   Status = "exists"   // certificate was already registered; now complete
	Skipped  Status = "skipped"  // invalid in the manifest, not imported
	Failed   Status = "failed"   // an AWS call failed permanently
	// Registered: with Config.RegisterOnly, the certificate is registered
	// by thingpress and nothing else was made.
	Registered Status = "registered"
	// Bound: bind made the device complete around a certificate
	// registered before.
	Bound Status = "bound"
)

// Device is one valid device, ready for the import steps: what the CLI
// makes of a validate.Checked (FromChecked) and what an import queue
// message carries (its JSON, in stack.QueuedDevice).
type Device struct {
	ChipID    string `json:"chip_id,omitempty"`
	ReelID    string `json:"reel_id,omitempty"`
	BatchID   string `json:"batch_id,omitempty"`
	ThingName string `json:"thing_name"`
	// CertificateID is the hex SHA-256 of the certificate's DER (AWS IoT
	// names the certificate so), the device's key in the state.Journal.
	CertificateID  string `json:"certificate_id"`
	CertificatePEM string `json:"certificate_pem"`
	// Attributes are the vendor's Thing attributes beyond the chip, reel
	// and batch IDs (manifest.Record.Attributes).
	Attributes map[string]string `json:"attributes,omitempty"`
	// ThingType, if set, is the Thing's type instead of the Config's
	// Target.ThingType (bind gives each device its own).
	ThingType string `json:"thing_type,omitempty"`
}

// FromChecked returns the device to import of a valid checked device.
func FromChecked(c *validate.Checked) Device {
	return Device{
		ChipID:         c.ChipID,
		ReelID:         c.ReelID,
		BatchID:        c.BatchID,
		ThingName:      c.ThingName,
		CertificateID:  c.CertificateID,
		CertificatePEM: c.PEM(),
		Attributes:     c.Attributes,
	}
}

// Thing attribute limits (API reference, AttributePayload).
const (
	MaxAttributes         = 3  // of a Thing without a thing type
	MaxAttributesWithType = 50 // of a Thing with one
)

// AttributesFor returns the Thing attributes recorded for d: the facts a
// person can trace back to the chip and its reel (chip, reel and batch
// ID), then the vendor's Attributes by name, as many as a Thing takes (3
// without a thing type, 50 with one); the rest are left out.
func (d *Device) AttributesFor(thingType bool) map[string]string {
	limit := MaxAttributes
	if thingType {
		limit = MaxAttributesWithType
	}
	a := map[string]string{}
	if d.ChipID != "" {
		a["chip_id"] = d.ChipID
	}
	if d.ReelID != "" {
		a["reel_id"] = d.ReelID
	}
	if d.BatchID != "" {
		a["batch_id"] = d.BatchID
	}
	for _, k := range slices.Sorted(maps.Keys(d.Attributes)) {
		if len(a) >= limit {
			break
		}
		if _, taken := a[k]; !taken {
			a[k] = d.Attributes[k]
		}
	}
	return a
}

// Result is the outcome for one device. Its JSON is the device's line in
// the import report.
type Result struct {
	ChipID         string `json:"chip_id"`
	ThingName      string `json:"thing_name"`
	CertificateID  string `json:"certificate_id"`
	CertificateARN string `json:"certificate_arn"`
	Status         Status `json:"status"`
	Error          string `json:"error"`
	// Resumed is set when every step was already recorded as done.
	Resumed bool `json:"-"`
	// Retryable is set on a failure that only throttling or transient
	// faults caused (the retries ran out): trying later may succeed.
	Retryable bool `json:"-"`
	// Left is set on a failed device that has steps done: what it left
	// in AWS (its certificate, ACTIVE unless registered --inactive; its
	// Thing; the steps done and missing).
	Left *Leftover `json:"left_in_aws,omitempty"`
}

// Leftover is what a failed device left in AWS: the steps done before the
// one that failed. A later run with the same state file goes on from
// them; until then the certificate, if registered, is without the rest
// (ACTIVE, or INACTIVE when registered so and not yet activated).
type Leftover struct {
	// The certificate, once the register step is done.
	CertificateID  string `json:"certificate_id,omitempty"`
	CertificateARN string `json:"certificate_arn,omitempty"`
	// CertificateStatus is ACTIVE for a certificate this import
	// registered, and empty for one registered before it
	// (CertificateExisted), whose status AWS did not say.
	CertificateStatus  string `json:"certificate_status,omitempty"`
	CertificateExisted bool   `json:"certificate_existed,omitempty"`
	// Thing names the Thing once the thing step is done; ThingCreated says
	// when: "this run" or "an earlier run". (CreateThing answers alike
	// whether it made the Thing or found an identical one.)
	Thing        string `json:"thing,omitempty"`
	ThingCreated string `json:"thing_created,omitempty"`
	// Done and Missing are the steps, as the state file names them.
	Done    []string `json:"done"`
	Missing []string `json:"missing"`
}

// Config configures an Importer.
type Config struct {
	API    awsiot.API
	Target awsiot.Target
	Limits *ratelimit.Set
	State  state.Journal
	// MaxAttempts bounds the attempts of one call that fails
	// transiently; throttled attempts are bounded by MaxThrottled
	// (zero: the awsiot.Caller defaults).
	MaxAttempts  int
	MaxThrottled int
	// BackoffBase and BackoffMax shape the jittered exponential backoff.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	Logger      *slog.Logger
	// RegisterOnly registers each certificate and makes nothing else: the
	// first phase of two-phase provisioning, which bind completes.
	RegisterOnly bool
	// Inactive registers the certificates INACTIVE instead of ACTIVE.
	Inactive bool
	// Exclusive attaches each certificate to its Thing with
	// EXCLUSIVE_THING: AWS then refuses to attach it to another Thing.
	Exclusive bool
}

// Importer imports devices. Its methods are safe for concurrent use.
type Importer struct {
	cfg    Config
	caller *awsiot.Caller
}

// New returns an Importer.
func New(cfg Config) *Importer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Limits == nil {
		cfg.Limits, _ = ratelimit.NewSet(ratelimit.DefaultQuotas())
	}
	return &Importer{cfg: cfg, caller: &awsiot.Caller{
		Limits: cfg.Limits, MaxAttempts: cfg.MaxAttempts, MaxThrottled: cfg.MaxThrottled,
		BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax, Logger: cfg.Logger,
	}}
}

// Steps lists the steps that make a device complete for t, in the order
// they are made. CreateThing comes first: a name taken by a Thing with
// other settings is refused before any certificate is registered.
func Steps(t awsiot.Target) []string {
	steps := []string{state.StepThing, state.StepRegister, state.StepPrincipal}
	for _, p := range t.Policies {
		steps = append(steps, state.PolicyStep(p))
	}
	for _, g := range t.ThingGroups {
		steps = append(steps, state.GroupStep(g))
	}
	return steps
}

// StepsFor lists the steps that make the device of st complete for t:
// Steps(t), or only the register step with registerOnly; then, for a
// certificate an import --register-only --inactive registered
// (st.Inactive), the activate step: a complete device's certificate is
// ACTIVE.
func StepsFor(t awsiot.Target, registerOnly bool, st state.Progress) []string {
	if registerOnly {
		return []string{state.StepRegister}
	}
	steps := Steps(t)
	if st.Inactive {
		steps = append(steps, state.StepActivate)
	}
	return steps
}

func (im *Importer) stepsOf(st state.Progress) []string {
	return StepsFor(im.cfg.Target, im.cfg.RegisterOnly, st)
}

// Call makes one AWS call of operation op as the device steps do: under
// op's rate limit, retrying throttles and transient failures. It returns
// ErrInterrupted if ctx ends before the call is sent or while it waits
// to retry, and an error wrapping awsiot.ErrGaveUp when the retries run
// out. A call already sent is finished whatever ctx does.
func (im *Importer) Call(ctx context.Context, op string, fn func(context.Context) error) error {
	_, err := im.caller.Try(ctx, context.WithoutCancel(ctx), op, fn)
	return err
}

// Calls returns the number of calls made per operation, retries included.
func (im *Importer) Calls() map[string]int64 { return im.caller.Calls() }

// Throttled is the number of calls AWS answered with throttling.
func (im *Importer) Throttled() int64 { return im.caller.Throttled() }

// Retried is the number of calls retried after a transient failure.
func (im *Importer) Retried() int64 { return im.caller.Retried() }

// Unreachable is the error of the calls once the endpoint became
// unreachable (it wraps awsiot.ErrUnreachable and names the address), or
// nil.
func (im *Importer) Unreachable() error { return im.caller.Unreachable() }

// ErrInterrupted means the run was stopped before the device was
// complete; its completed steps are in the state file. It is the
// Caller's sentinel.
var ErrInterrupted = awsiot.ErrInterrupted

// Import makes d complete. It returns an error that Is ErrInterrupted
// (and no result) when ctx is cancelled, or the endpoint became
// unreachable (awsiot.ErrUnreachable), before the device is complete; a
// call already sent is finished first, and its outcome recorded, so a
// later run resumes after it.
func (im *Importer) Import(ctx context.Context, d *Device) (Result, error) {
	res := Result{ChipID: d.ChipID, ThingName: d.ThingName}
	st, _, err := im.cfg.State.Get(d.CertificateID)
	if err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	res.CertificateID, res.CertificateARN = st.CertificateID, st.CertificateARN
	if len(st.Missing(im.stepsOf(st))) == 0 {
		res.Status = im.statusOf(st)
		res.Resumed = true
		return res, nil
	}
	// An intent recorded by an earlier run: that run's register call may
	// have reached AWS without its answer being recorded.
	earlierIntent := st.RegisterIntent
	// A call in flight is finished even after an interrupt, so that its
	// effect is recorded; the interrupt is honoured between steps.
	callCtx := context.WithoutCancel(ctx)
	var doneNow []string

	// onExists handles a ResourceAlreadyExistsException; maybeDone says an
	// earlier attempt of the same call may have created the resource.
	do := func(step, op string, call func(context.Context) error, onExists func(err error, maybeDone bool) error) error {
		if st.Has(step) {
			return nil
		}
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		maybeDone, err := im.caller.Try(ctx, callCtx, op, call)
		if err != nil && awsiot.Classify(err) == awsiot.Exists && onExists != nil {
			err = onExists(err, maybeDone)
		}
		if err != nil {
			if errors.Is(err, ErrInterrupted) {
				return err
			}
			return &awsiot.CallError{Op: op, Err: err}
		}
		if step == state.StepThing && !st.Has(state.StepRegister) && st.RegisterIntent.IsZero() {
			st.RegisterIntent = time.Now().UTC()
		}
		err = im.cfg.State.Update(d.CertificateID, func(s *state.Progress) error {
			s.CertificateID, s.CertificateARN, s.Existed = st.CertificateID, st.CertificateARN, st.Existed
			s.Inactive = st.Inactive
			s.RegisterIntent = st.RegisterIntent
			s.MarkDone(step)
			st.Done = s.Done
			if im.complete(s) {
				s.Status = string(im.statusOf(*s))
				s.Error = ""
			}
			return nil
		})
		if err == nil {
			doneNow = append(doneNow, step)
		}
		return err
	}

	thingType := im.cfg.Target.ThingType
	if d.ThingType != "" {
		thingType = d.ThingType
	}
	if !im.cfg.RegisterOnly {
		err = do(state.StepThing, OpThing, func(ctx context.Context) error {
			in := &iot.CreateThingInput{
				ThingName:        aws.String(d.ThingName),
				AttributePayload: &types.AttributePayload{Attributes: d.AttributesFor(thingType != "")},
			}
			if thingType != "" {
				in.ThingTypeName = aws.String(thingType)
			}
			_, err := im.cfg.API.CreateThing(ctx, in)
			return err
		}, func(err error, maybeDone bool) error {
			return fmt.Errorf("a thing named %s exists with other settings (type or attributes); not overwritten: %s", d.ThingName, awsiot.Message(err))
		})
	} else if !st.Has(state.StepRegister) && st.RegisterIntent.IsZero() {
		// No thing step records the intent: record it on its own.
		st.RegisterIntent = time.Now().UTC()
		err = im.cfg.State.Update(d.CertificateID, func(s *state.Progress) error {
			s.RegisterIntent = st.RegisterIntent
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
	}
	registerStatus := types.CertificateStatusActive
	if im.cfg.Inactive {
		registerStatus = types.CertificateStatusInactive
	}
	if err == nil {
		err = do(state.StepRegister, OpRegister, func(ctx context.Context) error {
			out, err := im.cfg.API.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
				CertificatePem: aws.String(d.CertificatePEM),
				Status:         registerStatus,
			})
			if err == nil {
				st.CertificateID, st.CertificateARN = aws.ToString(out.CertificateId), aws.ToString(out.CertificateArn)
				st.Inactive = im.cfg.Inactive
			}
			return err
		}, func(err error, maybeDone bool) error {
			id, arn, _ := awsiot.AlreadyExists(err)
			if arn == "" {
				return fmt.Errorf("certificate already registered, but AWS named no ARN: %s", awsiot.Message(err))
			}
			// Had it been there before, the first attempt would have said
			// so; after a lost answer the conflict is our own registration.
			existed := !maybeDone
			if existed && !earlierIntent.IsZero() {
				// A killed run may have lost the answer.
				ours, err := im.registeredSince(ctx, callCtx, id, earlierIntent)
				if err != nil {
					return err
				}
				existed = !ours
			}
			st.CertificateID, st.CertificateARN, st.Existed = id, arn, existed
			st.Inactive = im.cfg.Inactive && !existed
			return nil
		})
	}
	if err == nil {
		res.CertificateID, res.CertificateARN = st.CertificateID, st.CertificateARN
	}
	if err == nil && !im.cfg.RegisterOnly {
		err = do(state.StepPrincipal, OpPrincipal, func(ctx context.Context) error {
			in := &iot.AttachThingPrincipalInput{
				ThingName: aws.String(d.ThingName),
				Principal: aws.String(st.CertificateARN),
			}
			if im.cfg.Exclusive {
				in.ThingPrincipalType = types.ThingPrincipalTypeExclusiveThing
			}
			_, err := im.cfg.API.AttachThingPrincipal(ctx, in)
			return err
		}, nil)
	}
	for _, p := range im.cfg.Target.Policies {
		if err != nil || im.cfg.RegisterOnly {
			break
		}
		err = do(state.PolicyStep(p), OpPolicy, func(ctx context.Context) error {
			_, err := im.cfg.API.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(p), Target: aws.String(st.CertificateARN)})
			return err
		}, nil)
	}
	for _, g := range im.cfg.Target.ThingGroups {
		if err != nil || im.cfg.RegisterOnly {
			break
		}
		err = do(state.GroupStep(g), OpGroup, func(ctx context.Context) error {
			_, err := im.cfg.API.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{
				ThingGroupName: aws.String(g),
				ThingName:      aws.String(d.ThingName),
			})
			return err
		}, nil)
	}
	if err == nil && !im.cfg.RegisterOnly && st.Inactive {
		// Last, as bind does: the certificate works only once the device
		// is complete.
		err = do(state.StepActivate, OpActivate, func(ctx context.Context) error {
			_, err := im.cfg.API.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
				CertificateId: aws.String(st.CertificateID), NewStatus: types.CertificateStatusActive,
			})
			return err
		}, nil)
	}
	switch {
	case errors.Is(err, ErrInterrupted):
		return res, err
	case err != nil:
		res.Left = im.leftover(d, st, doneNow)
		err = Fail(im.cfg.State, d.CertificateID, &res, err)
		return res, err
	}
	res.Status = im.statusOf(st)
	return res, nil
}

// Fail makes res Failed with err's reason, Retryable when err's retries
// ran out (awsiot.ErrGaveUp), and records the failure in j under key;
// it returns only j's error.
func Fail(j state.Journal, key string, res *Result, err error) error {
	res.Status, res.Error, res.Retryable = Failed, err.Error(), errors.Is(err, awsiot.ErrGaveUp)
	if uerr := j.Update(key, func(s *state.Progress) error {
		s.Status, s.Error = string(Failed), res.Error
		return nil
	}); uerr != nil {
		return fmt.Errorf("state: %w", uerr)
	}
	return nil
}

// leftover describes what st's done steps left in AWS, or nil if none.
func (im *Importer) leftover(d *Device, st state.Progress, doneNow []string) *Leftover {
	if len(st.Done) == 0 {
		return nil
	}
	l := &Leftover{Done: slices.Clone(st.Done), Missing: []string{}}
	for _, step := range im.stepsOf(st) {
		if !st.Has(step) {
			l.Missing = append(l.Missing, step)
		}
	}
	if st.Has(state.StepRegister) {
		l.CertificateID, l.CertificateARN, l.CertificateExisted = st.CertificateID, st.CertificateARN, st.Existed
		if !st.Existed {
			l.CertificateStatus = string(types.CertificateStatusActive)
			if st.Inactive && !st.Has(state.StepActivate) {
				l.CertificateStatus = string(types.CertificateStatusInactive)
			}
		}
	}
	if st.Has(state.StepThing) {
		l.Thing, l.ThingCreated = d.ThingName, "an earlier run"
		if slices.Contains(doneNow, state.StepThing) {
			l.ThingCreated = "this run"
		}
	}
	return l
}

// ClockSkew is how far this machine's clock may be off AWS's: SigV4
// refuses requests signed more than 5 minutes off.
const ClockSkew = 5 * time.Minute

// registeredSince reports whether AWS registered certificate id at or
// after since, less ClockSkew: then the conflict is this import's own
// register call, whose answer a killed run lost. (A certificate that
// somebody else registered in that window would count as ours too.) It
// costs one DescribeCertificate; if that call fails, the certificate
// counts as registered before.
func (im *Importer) registeredSince(ctx, callCtx context.Context, id string, since time.Time) (bool, error) {
	var created time.Time
	_, err := im.caller.Try(ctx, callCtx, OpDescribe, func(ctx context.Context) error {
		out, err := im.cfg.API.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
		if err == nil && out.CertificateDescription != nil {
			created = aws.ToTime(out.CertificateDescription.CreationDate)
		}
		return err
	})
	switch {
	case errors.Is(err, ErrInterrupted):
		return false, err
	case err != nil:
		im.cfg.Logger.Warn("cannot tell whether an already registered certificate is this import's own; counted as registered before",
			"certificate_id", id, "err", awsiot.Message(err))
		return false, nil
	case created.IsZero():
		im.cfg.Logger.Warn("AWS named no creation date of an already registered certificate; counted as registered before", "certificate_id", id)
		return false, nil
	}
	return !created.Before(since.Add(-ClockSkew)), nil
}

func (im *Importer) complete(s *state.Progress) bool {
	for _, step := range im.stepsOf(*s) {
		if !s.Has(step) {
			return false
		}
	}
	return true
}

// statusOf is s's status once complete: Registered for a certificate
// this import registered with RegisterOnly, else as statusOf says.
func (im *Importer) statusOf(s state.Progress) Status {
	if im.cfg.RegisterOnly && !s.Existed {
		return Registered
	}
	return statusOf(s)
}

func statusOf(s state.Progress) Status {
	if s.Existed {
		return Exists
	}
	return Imported
}
