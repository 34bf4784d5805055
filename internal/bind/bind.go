package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/validate"
	"github.com/thingpress/thingpress/internal/workers"
)

// StepActivate is the state file's step of making the certificate ACTIVE;
// it is recorded done at once for a certificate that already is.
const StepActivate = state.StepActivate

// Reasons a device entry is skipped before any call.
var (
	ErrFingerprint     = errors.New("certFingerprint is not a hex SHA-256 (64 hex digits)")
	ErrDeviceID        = errors.New("deviceId is not a valid AWS IoT thing name")
	ErrDeviceType      = errors.New("deviceType is not a valid AWS IoT thing type name")
	ErrDuplicateDevice = errors.New("duplicate deviceId")
	ErrDuplicateCert   = errors.New("duplicate certFingerprint")
)

// Reasons a device fails on AWS's answer.
var (
	// ErrUnknownCertificate: no certificate with the fingerprint as ID.
	ErrUnknownCertificate = errors.New("no certificate with this fingerprint is registered")
	// ErrCertificateStatus: the certificate is in a status bind does not
	// activate (REVOKED, PENDING_TRANSFER, ...).
	ErrCertificateStatus = errors.New("certificate cannot be activated")
	// ErrFingerprintMismatch: AWS's certificate under that ID is not the
	// one whose DER hashes to the fingerprint.
	ErrFingerprintMismatch = errors.New("the certificate AWS holds under this ID does not hash to the fingerprint")
	// ErrThingType: the device's thing type does not exist.
	ErrThingType = errors.New("thing type")
)

// Config configures a Binder.
type Config struct {
	// Importer makes the device steps (thing, principal, policies,
	// groups); it must be made with the same API, State and Target.
	Importer *importer.Importer
	API      awsiot.API
	State    state.Journal
	Target   awsiot.Target
	Logger   *slog.Logger
}

// Binder makes devices complete around registered certificates. Its
// methods are safe for concurrent use.
type Binder struct {
	cfg   Config
	types sync.Map // thing type -> *typeCheck
}

type typeCheck struct {
	mu   sync.Mutex
	done bool  // the answer is known: the type is there, or missing
	err  error // when done
}

// New returns a Binder.
func New(cfg Config) *Binder {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Binder{cfg: cfg}
}

// Device is one device entry, checked.
type Device struct {
	Entry
	// Fingerprint is CertFingerprint in lower case.
	Fingerprint string
	// ThingType is the entry's deviceType, or the Target's.
	ThingType string
	// Err is the reason the entry is skipped, a *manifest.Error; nil if
	// it may be bound.
	Err error
}

// Check checks e against AWS's rules for names and attributes, before
// any call; file names the device-infos file in errors.
func (b *Binder) Check(e Entry, file string) Device {
	d := Device{Entry: e, Fingerprint: strings.ToLower(e.CertFingerprint), ThingType: e.DeviceType}
	if d.ThingType == "" {
		d.ThingType = b.cfg.Target.ThingType
	}
	var err error
	switch {
	case e.Problem != nil:
		err = e.Problem
	case !isFingerprint(d.Fingerprint):
		err = fmt.Errorf("%w: %s", ErrFingerprint, quote(e.CertFingerprint))
	case !validate.ValidThingName(e.DeviceID):
		err = fmt.Errorf("%w: %s must match [a-zA-Z0-9:_-]{1,128}", ErrDeviceID, quote(e.DeviceID))
	case d.ThingType != "" && !validate.ValidThingName(d.ThingType):
		err = fmt.Errorf("%w: %s must match [a-zA-Z0-9:_-]{1,128}", ErrDeviceType, quote(d.ThingType))
	default:
		err = validate.CheckThingAttributes(e.Attributes, d.ThingType != "")
	}
	if err != nil {
		name := e.DeviceID
		if !validate.ValidThingName(name) {
			name = quote(name)
		}
		d.Err = &manifest.Error{File: file, Entry: e.Name(), Device: name, Err: err}
	}
	return d
}

func isFingerprint(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func quote(s string) string {
	return fmt.Sprintf("%q", manifest.Truncate(s, 40))
}

// result is the report form of d with status st.
func (d *Device) result(st importer.Status, reason string) importer.Result {
	return importer.Result{
		ChipID: d.Attributes["chip_id"], ThingName: d.DeviceID,
		CertificateID: d.Fingerprint, Status: st, Error: reason,
	}
}

// Bind makes d complete: it finds the certificate by fingerprint
// (DescribeCertificate), creates the Thing and attaches certificate,
// policies and groups (the importer's steps), then activates the
// certificate if it is not ACTIVE (UpdateCertificate). It returns
// importer.ErrInterrupted (and no result) when ctx ends first; the steps
// done are recorded.
func (b *Binder) Bind(ctx context.Context, d *Device) (importer.Result, error) {
	res := d.result(importer.Bound, "")
	st, _, err := b.cfg.State.Get(d.Fingerprint)
	if err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	activated := st.Has(StepActivate)
	fail := func(err error) (importer.Result, error) {
		if errors.Is(err, importer.ErrInterrupted) {
			return res, err
		}
		err = importer.Fail(b.cfg.State, d.Fingerprint, &res, err)
		return res, err
	}
	if !st.Has(state.StepRegister) {
		if err := b.find(ctx, d); err != nil {
			return fail(err)
		}
	}
	if d.ThingType != "" && !st.Has(state.StepThing) {
		if err := b.checkType(ctx, d.ThingType); err != nil {
			return fail(err)
		}
	}
	r, err := b.cfg.Importer.Import(ctx, &importer.Device{
		CertificateID: d.Fingerprint, ThingName: d.DeviceID, ThingType: d.ThingType, Attributes: d.Attributes,
	})
	if err != nil {
		return res, err
	}
	res.CertificateARN, res.Left = r.CertificateARN, r.Left
	if r.Status == importer.Failed {
		res.Status, res.Error, res.Retryable = importer.Failed, r.Error, r.Retryable
		if res.Left != nil && !slices.Contains(res.Left.Done, StepActivate) {
			res.Left.CertificateStatus = "not ACTIVE (bind activates it last)"
			res.Left.Missing = append(res.Left.Missing, StepActivate)
		}
		return res, nil
	}
	if r.Resumed && activated {
		res.Resumed = true
		return res, nil
	}
	if st, _, err = b.cfg.State.Get(d.Fingerprint); err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	if !st.Has(StepActivate) {
		if ctx.Err() != nil {
			return res, importer.ErrInterrupted
		}
		err := b.cfg.Importer.Call(ctx, ratelimit.OpUpdateCertificate, func(ctx context.Context) error {
			_, err := b.cfg.API.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
				CertificateId: aws.String(d.Fingerprint), NewStatus: types.CertificateStatusActive,
			})
			return err
		})
		if err != nil {
			if errors.Is(err, importer.ErrInterrupted) {
				return res, err
			}
			res.Left = &importer.Leftover{
				CertificateID: d.Fingerprint, CertificateARN: res.CertificateARN, CertificateStatus: "INACTIVE",
				CertificateExisted: true, Thing: d.DeviceID, ThingCreated: "this run or an earlier one",
				Done: st.Done, Missing: []string{StepActivate},
			}
			return fail(&awsiot.CallError{Op: ratelimit.OpUpdateCertificate, Err: err})
		}
	}
	err = b.cfg.State.Update(d.Fingerprint, func(s *state.Progress) error {
		s.MarkDone(StepActivate)
		s.Status, s.Error = string(importer.Bound), ""
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	return res, nil
}

// find looks the certificate up by its fingerprint, checks it is the
// one, and records it as the register step (so the importer does not
// register it) and, if already ACTIVE, the activate step.
func (b *Binder) find(ctx context.Context, d *Device) error {
	var desc *types.CertificateDescription
	err := b.cfg.Importer.Call(ctx, ratelimit.OpDescribeCertificate, func(ctx context.Context) error {
		out, err := b.cfg.API.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(d.Fingerprint)})
		if err == nil {
			desc = out.CertificateDescription
		}
		return err
	})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.Is(err, importer.ErrInterrupted): // Ctrl-C, or the endpoint became unreachable
		return err
	case errors.As(err, &nf):
		return fmt.Errorf("%w (register it first: thingpress import --register-only)", ErrUnknownCertificate)
	case err != nil:
		return &awsiot.CallError{Op: ratelimit.OpDescribeCertificate, Err: err}
	case desc == nil || aws.ToString(desc.CertificateArn) == "":
		return fmt.Errorf("%s: AWS named no certificate ARN", ratelimit.OpDescribeCertificate)
	}
	if blk, _ := pem.Decode([]byte(aws.ToString(desc.CertificatePem))); blk != nil {
		if sum := sha256.Sum256(blk.Bytes); hex.EncodeToString(sum[:]) != d.Fingerprint {
			return ErrFingerprintMismatch
		}
	}
	active := false
	switch desc.Status {
	case types.CertificateStatusActive:
		active = true
	case types.CertificateStatusInactive, types.CertificateStatusRegisterInactive:
	default:
		return fmt.Errorf("%w: it is %s", ErrCertificateStatus, desc.Status)
	}
	return b.cfg.State.Update(d.Fingerprint, func(s *state.Progress) error {
		s.CertificateID, s.CertificateARN, s.Existed = d.Fingerprint, aws.ToString(desc.CertificateArn), true
		s.MarkDone(state.StepRegister)
		if active {
			s.MarkDone(StepActivate)
		}
		return nil
	})
}

// checkType checks that thing type t exists, once per run once AWS has
// answered: a check that failed on the way (a 5xx, a lost connection)
// fails that device only, and the next device asks again.
func (b *Binder) checkType(ctx context.Context, t string) error {
	v, _ := b.types.LoadOrStore(t, &typeCheck{})
	c := v.(*typeCheck)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.err
	}
	err := awsiot.Preflight(ctx, b.cfg.API, awsiot.Target{ThingType: t})
	if err != nil {
		err = fmt.Errorf("%w %q: %w", ErrThingType, t, err)
	}
	c.done, c.err = err == nil || errors.Is(err, awsiot.ErrMissing), err
	return err
}

// Walk reads every entry of rd, checks it (Check) and calls fn with it;
// a later entry with the deviceId or fingerprint of an earlier valid one
// gets a duplicate reason. It stops at the first error of rd or fn.
func (b *Binder) Walk(rd *Reader, file string, fn func(Device) error) error {
	seenDevice, seenCert := map[string]int{}, map[string]int{}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		d := b.Check(e, file)
		if d.Err == nil {
			if first, dup := seenDevice[d.DeviceID]; dup {
				d.Err = &manifest.Error{File: file, Entry: e.Name(), Device: d.DeviceID, Err: fmt.Errorf("%w: devices[%d] has it too", ErrDuplicateDevice, first)}
			} else if first, dup := seenCert[d.Fingerprint]; dup {
				d.Err = &manifest.Error{File: file, Entry: e.Name(), Device: d.DeviceID, Err: fmt.Errorf("%w: devices[%d] has it too", ErrDuplicateCert, first)}
			} else {
				seenDevice[d.DeviceID], seenCert[d.Fingerprint] = e.Index, e.Index
			}
		}
		if err := fn(d); err != nil {
			return err
		}
	}
}

// Steps lists the steps that make a device complete, in the order they
// are made: the register step stands for finding the certificate.
func Steps(t awsiot.Target) []string {
	steps := []string{state.StepRegister}
	for _, st := range importer.Steps(t) {
		if st != state.StepRegister {
			steps = append(steps, st)
		}
	}
	return append(steps, StepActivate)
}

// RunOptions configure Run.
type RunOptions struct {
	// File names the device-infos file in reasons.
	File string
	// Workers is the number of devices bound at once.
	Workers int
	// OnResult receives every device's result, one call at a time.
	OnResult func(importer.Result)
}

// Run binds every device of rd with o.Workers goroutines. Entries that
// break a rule, and later duplicates of a deviceId or fingerprint, are
// reported Skipped with their reason. It returns an error that Is
// importer.ErrInterrupted when ctx ended, or the endpoint became
// unreachable, before every device was done.
func (b *Binder) Run(ctx context.Context, rd *Reader, o RunOptions) error {
	return workers.Each(ctx, o.Workers, importer.ErrInterrupted, o.OnResult,
		func(_ context.Context, send func(Device) error, skip func(importer.Result)) error {
			return b.Walk(rd, o.File, func(d Device) error {
				if d.Err != nil {
					skip(d.result(importer.Skipped, manifest.Reason(d.Err)))
					return nil
				}
				return send(d)
			})
		}, b.Bind)
}
