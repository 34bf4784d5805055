package queueimport

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/backoff"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/validate"
)

// SQSAPI is the SQS call the importer makes; *sqs.Client satisfies it.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Defaults of Config.
const (
	DefaultReserve        = 30 * time.Second
	DefaultMaxResends     = 25
	DefaultResendDelay    = 30 * time.Second
	DefaultMaxResendDelay = 15 * time.Minute // SQS's longest DelaySeconds
)

// Config configures a Handler.
type Config struct {
	IoT      awsiot.API
	SQS      SQSAPI
	QueueURL string
	Target   awsiot.Target
	// Quotas are this invocation's rates per operation (see ShareQuotas);
	// nil means AWS's default quotas, which only suits one invocation.
	Quotas map[string]float64
	// Workers is the number of devices imported at once; 0 means enough
	// to keep the register quota busy when answers take 400 ms.
	Workers int
	// Reserve is the time before the invocation's deadline at which no
	// new device is started; devices still running are interrupted half
	// of it before the deadline and sent back. At most a third of the
	// time left when the invocation starts.
	Reserve time.Duration
	// MaxResends bounds how often a message's devices are sent back
	// because their retries ran out; after that the message is reported
	// failed (to end in the dead-letter queue).
	MaxResends int
	// ResendDelay is the delay of the first send-back after retries ran
	// out; it doubles with each further attempt up to MaxResendDelay.
	ResendDelay    time.Duration
	MaxResendDelay time.Duration
	// Retries of one call within an invocation (see importer.Config).
	MaxAttempts  int
	MaxThrottled int
	BackoffBase  time.Duration
	BackoffMax   time.Duration

	// Results, when set, records each device's outcome; Finish says when
	// a manifest is done.
	Results *results.Table
	Finish  *results.Finisher

	Metrics *emf.Logger
	Logger  *slog.Logger
}

// Handler handles import queue batches. Its limiters are shared by the
// invocations of one execution environment.
type Handler struct {
	cfg    Config
	limits *ratelimit.Set
	log    *slog.Logger
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.IoT == nil || cfg.SQS == nil:
		return nil, errors.New("queueimport: IoT and SQS clients are required")
	case cfg.QueueURL == "":
		return nil, errors.New("queueimport: no import queue URL")
	case len(cfg.Target.Policies) == 0:
		return nil, errors.New("queueimport: no policy to attach")
	}
	if cfg.Quotas == nil {
		cfg.Quotas = ratelimit.DefaultQuotas()
	}
	// Under the share as the CLI is under the quota.
	limits, err := ratelimit.NewSet(cfg.Quotas, ratelimit.WithMargin(ratelimit.DefaultMargin))
	if err != nil {
		return nil, fmt.Errorf("queueimport: %w", err)
	}
	if cfg.Workers <= 0 {
		per := ratelimit.PerDevice{Policies: len(cfg.Target.Policies), Groups: len(cfg.Target.ThingGroups)}
		cfg.Workers = ratelimit.Workers(cfg.Quotas[ratelimit.OpRegisterCertificateWithoutCA], per, 128)
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.MaxResends <= 0 {
		cfg.MaxResends = DefaultMaxResends
	}
	if cfg.ResendDelay <= 0 {
		cfg.ResendDelay = DefaultResendDelay
	}
	if cfg.MaxResendDelay <= 0 || cfg.MaxResendDelay > DefaultMaxResendDelay {
		cfg.MaxResendDelay = DefaultMaxResendDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, limits: limits, log: cfg.Logger}, nil
}

// ShareQuotas returns one invocation's rates when up to concurrency
// invocations run at once: the account's quota table (AWS's defaults,
// with RegisterCertificateWithoutCA at registerTPS, AttachPolicy at
// attachPolicyTPS, and the per-device operations raised along with
// registration as ratelimit.ForRegistrationRate does for the CLI), every
// entry divided by concurrency. Dividing every operation, not only
// registration, is what keeps the sum of all invocations under each
// quota.
func ShareQuotas(registerTPS, attachPolicyTPS float64, concurrency int, per ratelimit.PerDevice) map[string]float64 {
	q := ratelimit.ForRegistrationRate(registerTPS, per)
	if attachPolicyTPS > 0 && !math.IsInf(attachPolicyTPS, 0) {
		q[ratelimit.OpAttachPolicy] = attachPolicyTPS
	}
	n := float64(max(concurrency, 1))
	for op := range q {
		q[op] /= n
	}
	return q
}

// message is one record of the batch and what became of its devices.
type message struct {
	rec  events.SQSMessage
	m    stack.Message
	bad  error // the body is not a usable message
	mu   sync.Mutex
	back []stack.QueuedDevice // to send back to the queue
	gave bool                 // a device's retries ran out
	done []results.Result
	// seen is the manifest, done, that a redelivery found in the results
	// table: its devices have their outcomes and are not imported again.
	seen *results.Manifest
}

// counts are one manifest's numbers in this invocation.
type counts struct {
	outcome.Counts
	im *importer.Importer
}

type job struct {
	msg *message
	c   *counts // of the message's manifest
	dev stack.QueuedDevice
}

// Handle imports the devices of a batch of import queue messages and
// reports the messages SQS should deliver again. It never returns an
// error: a failing batch would be delivered again whole.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	started := time.Now()
	journal := state.NewMemory()
	msgs := make([]*message, len(ev.Records))
	perManifest := map[string]*counts{}
	var jobs []job
	var mu sync.Mutex             // guards perManifest's counters
	looked := map[string]lookup{} // manifests read from the results table

	for i, rec := range ev.Records {
		m := &message{rec: rec}
		msgs[i] = m
		if m.bad = decode(rec.Body, &m.m); m.bad != nil {
			h.log.Error("message is not an import message; reported failed", "message_id", rec.MessageId,
				"receive_count", rec.Attributes["ApproximateReceiveCount"], "err", m.bad)
			continue
		}
		if h.doneBefore(ctx, m, looked) {
			continue
		}
		c := perManifest[m.m.Manifest]
		if c == nil {
			c = &counts{im: importer.New(importer.Config{
				API: h.cfg.IoT, Target: h.cfg.Target, Limits: h.limits, State: journal,
				MaxAttempts: h.cfg.MaxAttempts, MaxThrottled: h.cfg.MaxThrottled,
				BackoffBase: h.cfg.BackoffBase, BackoffMax: h.cfg.BackoffMax,
				Logger: h.log.With("manifest", m.m.Manifest),
			})}
			perManifest[m.m.Manifest] = c
		}
		for _, d := range m.m.Devices {
			if err := checkDevice(d); err != nil {
				c.Import(importer.Result{ChipID: d.ChipID, ThingName: d.ThingName, Status: importer.Failed, Error: err.Error()})
				m.done = append(m.done, results.Result{Device: resultDevice(d), Outcome: results.Failed, Reason: err.Error()})
				h.log.Warn("device failed", "manifest", m.m.Manifest, "message_id", rec.MessageId,
					"chip", d.ChipID, "thing", d.ThingName, "reason", err.Error())
				continue
			}
			if err := seed(journal, d); err != nil {
				h.log.Warn("steps done before not taken over", "thing", d.ThingName, "err", err)
			}
			jobs = append(jobs, job{msg: m, c: c, dev: d})
		}
	}

	// The time plan: stop starting devices at stopAt, interrupt those
	// running at cutAt, and leave the rest for sending devices back.
	runCtx := ctx
	stopAt := time.Time{}
	if deadline, ok := ctx.Deadline(); ok {
		reserve := min(h.cfg.Reserve, time.Until(deadline)/3)
		stopAt = deadline.Add(-reserve)
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve/2))
		defer cancel()
	}

	work := make(chan job)
	var wg sync.WaitGroup
	for range min(h.cfg.Workers, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range work {
				h.importOne(runCtx, journal, &mu, j)
			}
		})
	}
	// Devices are started until stopAt or until runCtx ends.
	startCtx := runCtx
	if !stopAt.IsZero() {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithDeadline(runCtx, stopAt)
		defer cancel()
	}
	for i, j := range jobs {
		// Time that ran out wins over a worker that is free.
		if startCtx.Err() == nil {
			select {
			case work <- j:
				continue
			case <-startCtx.Done():
			}
		}
		h.log.Warn("time is running out: devices not started are sent back", "devices", len(jobs)-i)
		for _, rest := range jobs[i:] {
			rest.msg.sendBack(rest.dev, false)
		}
		break
	}
	close(work)
	wg.Wait()

	var resp events.SQSEventResponse
	told := map[string]bool{} // manifests this invocation tried to tell
	for _, m := range msgs {
		if m.bad == nil && len(m.back) > 0 {
			err := h.requeue(ctx, m)
			switch {
			case err == nil: // the workers are done: no lock needed
				perManifest[m.m.Manifest].Requeued += len(m.back)
			case errors.Is(err, errTooManyResends) && h.cfg.Results != nil:
				// The table lists them as failed, for thingpress retry.
				h.log.Warn("devices sent back too often; recorded failed", "manifest", m.m.Manifest,
					"message_id", m.rec.MessageId, "devices", len(m.back))
				for _, d := range m.back {
					m.done = append(m.done, results.Result{Device: resultDevice(d), Outcome: results.Failed, Reason: err.Error()})
				}
				perManifest[m.m.Manifest].Failed += len(m.back)
				m.back = nil
			default:
				h.log.Error("devices not sent back; message reported failed", "manifest", m.m.Manifest,
					"message_id", m.rec.MessageId, "devices", len(m.back), "err", err)
				m.bad = err
			}
		}
		if m.bad == nil {
			if err := h.record(ctx, m, told); errors.Is(err, results.ErrNotTold) {
				// Delivered again, the message tells it then.
				h.log.Error("manifest done, but its end not told; message reported failed", "manifest", m.m.Manifest,
					"message_id", m.rec.MessageId, "err", err)
				m.bad = err
			} else if err != nil {
				// Delivered again, the message's devices are recorded then.
				h.log.Error("outcomes not recorded; message reported failed", "manifest", m.m.Manifest,
					"message_id", m.rec.MessageId, "err", err)
				m.bad = err
			}
		}
		if m.bad != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.rec.MessageId})
		}
	}

	var total outcome.Counts
	for uri, c := range perManifest {
		throttled := c.im.Throttled()
		if err := h.cfg.Metrics.Emit(map[string]string{stack.MetricDimensionManifest: lambdarun.ManifestKey(uri)},
			emf.Metric{Name: stack.MetricDevicesImported, Value: float64(c.Imported)},
			emf.Metric{Name: stack.MetricDevicesExisting, Value: float64(c.Exists)},
			emf.Metric{Name: stack.MetricDevicesFailed, Value: float64(c.Failed)},
			emf.Metric{Name: stack.MetricThrottledRetries, Value: float64(throttled)},
			emf.Metric{Name: stack.MetricDevicesRequeued, Value: float64(c.Requeued)},
		); err != nil {
			h.log.Error("metrics not written", "err", err)
		}
		total.Merge(c.Counts)
	}
	h.log.Info("batch done", "messages", len(msgs), "devices", len(jobs), "imported", total.Imported,
		"existing", total.Exists, "failed", total.Failed, "left_half_made", total.LeftHalfMade, "requeued", total.Requeued,
		"failed_messages", len(resp.BatchItemFailures), "seconds", time.Since(started).Seconds())
	return resp, nil
}

// importOne imports one device and files its outcome.
func (h *Handler) importOne(ctx context.Context, journal *state.Memory, mu *sync.Mutex, j job) {
	d, c := j.dev, j.c
	res, err := c.im.Import(ctx, &d.Device)
	log := h.log.With("manifest", j.msg.m.Manifest, "message_id", j.msg.rec.MessageId, "chip", d.ChipID, "thing", d.ThingName)
	switch {
	case errors.Is(err, awsiot.ErrUnreachable):
		// The endpoint stopped taking connections: nothing is lost, but
		// trying again at once would find it gone as well. Back with its
		// steps, after a delay, as when retries run out.
		j.msg.sendBack(withProgress(journal, d), true)
		log.Info("endpoint unreachable; device sent back", "reason", err.Error())
		return
	case err != nil:
		// Interrupted (time ran out) or the journal failed: the steps
		// done so far go back with the device.
		j.msg.sendBack(withProgress(journal, d), false)
		log.Info("device not finished in time; sent back", "reason", err.Error())
		return
	case res.Status == importer.Failed && res.Retryable:
		j.msg.sendBack(withProgress(journal, d), true)
		log.Warn("device retries ran out; sent back", "reason", res.Error)
		return
	}
	j.msg.finished(d, res)
	mu.Lock()
	defer mu.Unlock()
	c.Import(res)
	switch res.Status {
	case importer.Imported:
		log.Debug("device imported", "certificate_id", res.CertificateID)
	case importer.Exists:
		log.Debug("device was already registered; now complete", "certificate_id", res.CertificateID)
	default:
		if l := res.Left; l != nil {
			log.Warn("device failed half-made", "reason", res.Error,
				slog.Group("left_in_aws", "certificate_arn", l.CertificateARN, "certificate_status", l.CertificateStatus,
					"certificate_existed", l.CertificateExisted, "thing", l.Thing, "thing_created", l.ThingCreated,
					"done", l.Done, "missing", l.Missing))
			return
		}
		log.Warn("device failed", "reason", res.Error)
	}
}

// finished files a device's outcome for the results table.
func (m *message) finished(d stack.QueuedDevice, res importer.Result) {
	r := results.Result{Device: resultDevice(d), Outcome: results.Failed, Reason: res.Error}
	switch res.Status {
	case importer.Imported:
		r.Outcome, r.Reason = results.Imported, ""
	case importer.Exists:
		r.Outcome, r.Reason = results.Exists, ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, r)
}

// resultDevice is what the results table keeps of a device.
func resultDevice(d stack.QueuedDevice) results.Device {
	return results.Device{
		ChipID: d.ChipID, ReelID: d.ReelID, BatchID: d.BatchID, ThingName: d.ThingName,
		CertificateID: d.CertificateID, CertificatePEM: d.CertificatePEM, Attributes: d.Attributes,
	}
}

// lookup is a manifest's item as the results table answered.
type lookup struct {
	man results.Manifest
	err error
}

// doneBefore reports whether a message delivered again belongs to a
// manifest the results table has as done in the message's round or a
// later one: every device of the message has its outcome, so none is
// imported again (m.seen). A first delivery is not looked up, and a
// manifest is read once per batch (looked): a batch delivered again
// whole may hold many messages of it.
func (h *Handler) doneBefore(ctx context.Context, m *message, looked map[string]lookup) bool {
	if h.cfg.Results == nil {
		return false
	}
	if n, err := strconv.Atoi(m.rec.Attributes["ApproximateReceiveCount"]); err != nil || n <= 1 {
		return false
	}
	id := results.ID(m.m.Manifest, m.m.Version())
	l, ok := looked[id]
	if !ok {
		l.man, l.err = h.cfg.Results.Get(ctx, id)
		looked[id] = l
	}
	man, err := l.man, l.err
	if err != nil {
		if !errors.Is(err, results.ErrNotFound) {
			h.log.Warn("results table not read; devices imported again", "manifest", m.m.Manifest,
				"message_id", m.rec.MessageId, "err", err)
		}
		return false
	}
	if man.State != results.StateDone || man.Round < m.m.Round {
		return false
	}
	h.log.Info("message delivered again for a done manifest: devices not imported again", "manifest", m.m.Manifest,
		"message_id", m.rec.MessageId, "devices", len(m.m.Devices), "told", man.Notified != "")
	m.seen = &man
	return true
}

// tell writes the final summary of a manifest done and publishes its
// notice, then marks it told in the results table. A manifest told (or
// tried) for an earlier message of the batch is not told again: a batch
// delivered again whole after its invocation died may hold many messages
// of the manifest it completed, and the first one's failure is enough to
// have it told at the next delivery.
func (h *Handler) tell(ctx context.Context, man results.Manifest, told map[string]bool) error {
	if told[man.ID] {
		return nil
	}
	told[man.ID] = true
	if err := h.cfg.Results.Finish(ctx, h.cfg.Finish, man); err != nil {
		return fmt.Errorf("%w: %w", results.ErrNotTold, err)
	}
	return nil
}

// record files the outcomes of a message's devices in the results
// table and, when the manifest is done and its end not yet told (these
// outcomes completed it, or an earlier delivery failed to tell it),
// tells it. It returns an error wrapping results.ErrNotTold when that failed.
func (h *Handler) record(ctx context.Context, m *message, told map[string]bool) error {
	if h.cfg.Results == nil {
		return nil
	}
	if m.seen != nil {
		if m.seen.Notified != "" {
			return nil
		}
		h.log.Info("manifest done before; telling its end", "manifest", m.m.Manifest, "message_id", m.rec.MessageId)
		return h.tell(ctx, *m.seen, told)
	}
	if len(m.done) == 0 && len(m.back) == 0 {
		return nil
	}
	id := results.ID(m.m.Manifest, m.m.Version())
	man, done, err := h.cfg.Results.Record(ctx, results.Delivery{
		Manifest: id, MessageID: m.rec.MessageId, Round: m.m.Round, Results: m.done, Requeued: len(m.back),
	})
	if err != nil {
		return err
	}
	if man.Manifest != "" {
		if err := h.cfg.Metrics.Emit(map[string]string{stack.MetricDimensionManifest: lambdarun.ManifestKey(man.Manifest)},
			emf.Metric{Name: stack.MetricResultValid, Value: float64(man.Valid)},
			emf.Metric{Name: stack.MetricResultEnded, Value: float64(man.Ended())},
			emf.Metric{Name: stack.MetricResultFailed, Value: float64(man.Failed)},
		); err != nil {
			h.log.Error("metrics not written", "err", err)
		}
	}
	if done {
		h.log.Info("manifest done", "manifest", m.m.Manifest, "valid", man.Valid, "imported", man.Imported,
			"existing", man.Exists, "failed", man.Failed, "round", man.Round)
		return h.tell(ctx, man, told)
	}
	return nil
}

func (m *message) sendBack(d stack.QueuedDevice, gaveUp bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.back = append(m.back, d)
	m.gave = m.gave || gaveUp
}

// decode parses a message body and checks it names a manifest and
// devices.
func decode(body string, m *stack.Message) error {
	if err := json.Unmarshal([]byte(body), m); err != nil {
		return fmt.Errorf("body is not a message: %w", err)
	}
	if m.Manifest == "" || len(m.Devices) == 0 {
		return errors.New("message names no manifest or no devices")
	}
	return nil
}

// checkDevice rejects a device that cannot be imported as it stands.
func checkDevice(d stack.QueuedDevice) error {
	if !validate.ValidThingName(d.ThingName) {
		return fmt.Errorf("thing name %q is not valid", d.ThingName)
	}
	if b, err := hex.DecodeString(d.CertificateID); err != nil || len(b) != 32 {
		return errors.New("certificate_id is not a hex SHA-256")
	}
	if !strings.Contains(d.CertificatePEM, "-----BEGIN CERTIFICATE-----") {
		return errors.New("certificate_pem holds no certificate")
	}
	return nil
}

// seed puts the steps a device came back with into the journal, so that
// Import resumes after them.
func seed(journal *state.Memory, d stack.QueuedDevice) error {
	if len(d.Done) == 0 {
		return nil
	}
	if d.CertificateARN == "" && slices.Contains(d.Done, state.StepRegister) {
		return errors.New("certificate registered but no certificate ARN")
	}
	id := ""
	if d.CertificateARN != "" {
		id = d.CertificateARN[strings.LastIndex(d.CertificateARN, "/")+1:]
	}
	return journal.Update(d.CertificateID, func(s *state.Progress) error {
		s.CertificateID, s.CertificateARN, s.Existed = id, d.CertificateARN, d.Existed
		for _, step := range d.Done {
			s.MarkDone(step)
		}
		return nil
	})
}

// withProgress returns d with the steps the journal recorded for it.
func withProgress(journal *state.Memory, d stack.QueuedDevice) stack.QueuedDevice {
	st, ok, err := journal.Get(d.CertificateID)
	if err != nil || !ok || len(st.Done) == 0 || st.Has(state.StepRegister) && st.CertificateARN == "" {
		return d
	}
	d.CertificateARN, d.Existed, d.Done = st.CertificateARN, st.Existed, st.Done
	return d
}

// errTooManyResends reports a message whose devices came back too often.
var errTooManyResends = errors.New("devices were sent back too often")

// requeue sends m's unfinished devices back to the queue, split into
// messages that fit SQS's size limit.
func (h *Handler) requeue(ctx context.Context, m *message) error {
	attempt := m.m.Attempt
	var delay time.Duration
	if m.gave {
		attempt++
		if attempt > h.cfg.MaxResends {
			return fmt.Errorf("%w (%d times)", errTooManyResends, m.m.Attempt)
		}
		delay = h.delay(attempt)
	}
	out := stack.Message{Manifest: m.m.Manifest, ManifestETag: m.m.ManifestETag, ManifestVersion: m.m.ManifestVersion, Attempt: attempt, Round: m.m.Round}
	bodies, err := split(out, m.back, stack.MaxMessageBytes)
	if err != nil {
		return err
	}
	// Sending back must not be cut short by the deadline that stopped
	// the import: Lambda's own deadline still bounds it.
	for _, b := range bodies {
		_, err := h.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:     aws.String(h.cfg.QueueURL),
			MessageBody:  aws.String(b),
			DelaySeconds: int32(delay / time.Second),
		})
		if err != nil {
			return fmt.Errorf("send back: %w", err)
		}
	}
	h.log.Info("devices sent back to the queue", "manifest", m.m.Manifest, "message_id", m.rec.MessageId,
		"devices", len(m.back), "messages", len(bodies), "attempt", attempt, "delay_seconds", int(delay/time.Second))
	return nil
}

// delay is the send-back delay of an attempt: exponential, with jitter
// in its upper half.
func (h *Handler) delay(attempt int) time.Duration {
	d := backoff.Equal(h.cfg.ResendDelay, h.cfg.MaxResendDelay, attempt-1)
	return max(d.Round(time.Second), time.Second)
}

// split encodes devs as messages of at most limit bytes each.
func split(head stack.Message, devs []stack.QueuedDevice, limit int) ([]string, error) {
	head.Devices = devs
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	if len(b) <= limit {
		return []string{string(b)}, nil
	}
	if len(devs) == 1 {
		return nil, fmt.Errorf("device %s does not fit in a message (%d bytes)", devs[0].ThingName, len(b))
	}
	a, err := split(head, devs[:len(devs)/2], limit)
	if err != nil {
		return nil, err
	}
	c, err := split(head, devs[len(devs)/2:], limit)
	return append(a, c...), err
}
