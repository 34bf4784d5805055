package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/manifest/microchip"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/trust"
)

// S3API is the S3 calls the provider makes; *s3.Client satisfies it.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SQSAPI is the SQS call the provider makes; *sqs.Client satisfies it.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// MaxBatchEntries is SQS's limit of entries per batch; stack.MaxMessageBytes
// limits each message and each batch.
const MaxBatchEntries = 10

// Config configures a Handler.
type Config struct {
	S3       S3API
	SQS      SQSAPI
	IoT      awsiot.PreflightAPI
	QueueURL string
	Target   awsiot.Target
	// Slot is the certificate slot read (E0E0, E0E1 or E0E2).
	Slot string
	// DevicesPerMessage is the most devices in one queue message.
	DevicesPerMessage int
	SummaryPrefix     string
	MaxManifestBytes  int64
	// Trust verifies the chains of Infineon's certificates; nil means
	// Infineon's CAs. Microchip's entries are authenticated by their
	// manifest signature (Signers); Espressif's and generated ones by the
	// CAs in their bucket's stack.TrustAnchorsKey object.
	Trust *trust.Store
	// Signers verify Microchip manifests; nil means the embedded ones.
	Signers *microchip.Signers
	// Buckets maps the stack's bucket names to their vendors; a manifest
	// is read as its bucket's vendor. Empty means the vendor whose
	// stack.Buckets suffix ends the bucket's name.
	Buckets map[string]stack.Vendor
	// NoVerifyChain imports Espressif and generated certificates without
	// checking their chains when their bucket holds no trust anchors.
	NoVerifyChain bool
	// TempDir receives the manifest and the reader's spool files; empty
	// means os.TempDir() (Lambda's ephemeral storage, /tmp).
	TempDir string
	// Senders is the number of SendMessageBatch calls in flight at once
	// (default 16).
	Senders int
	// MaxMessageBytes caps one message and one batch (default and most
	// stack.MaxMessageBytes).
	MaxMessageBytes int
	// SendAttempts bounds the calls that send one batch's entries when
	// SQS fails some of them in its answer (default 10). A call that fails
	// whole is retried by the SDK client alone.
	SendAttempts int
	// Validators is the number of devices validated at once; 0 means
	// GOMAXPROCS.
	Validators int
	// Results, when set, records the manifest's state and its number of
	// valid devices; Finish says when a manifest is done (one without
	// valid devices is done when read).
	Results *results.Table
	Finish  *results.Finisher
	Metrics *emf.Logger
	Logger  *slog.Logger
	// Now is time.Now unless a test replaces it.
	Now func() time.Time
}

// Handler handles the upload bucket's events.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.S3 == nil || cfg.SQS == nil || cfg.IoT == nil:
		return nil, errors.New("provider: S3, SQS and IoT clients are required")
	case cfg.QueueURL == "":
		return nil, errors.New("provider: no import queue URL")
	case len(cfg.Target.Policies) == 0:
		return nil, errors.New("provider: no policy to check")
	}
	if cfg.Slot == "" {
		cfg.Slot = manifest.DefaultSlot
	}
	if !manifest.ValidSlot(cfg.Slot) {
		return nil, fmt.Errorf("provider: slot %q: %w", cfg.Slot, manifest.ErrBadSlot)
	}
	if cfg.DevicesPerMessage <= 0 {
		cfg.DevicesPerMessage = stack.DefaultDevicesPerMessage
	}
	if cfg.SummaryPrefix == "" {
		cfg.SummaryPrefix = stack.DefaultSummaryPrefix
	}
	if cfg.MaxManifestBytes <= 0 {
		cfg.MaxManifestBytes = stack.DefaultMaxManifestBytes
	}
	if cfg.Trust == nil {
		s, err := trust.Infineon()
		if err != nil {
			return nil, fmt.Errorf("provider: embedded CAs: %w", err)
		}
		cfg.Trust = s
	}
	if cfg.Signers == nil {
		cfg.Signers = microchip.DefaultSigners()
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 16
	}
	if cfg.MaxMessageBytes <= 0 || cfg.MaxMessageBytes > stack.MaxMessageBytes {
		cfg.MaxMessageBytes = stack.MaxMessageBytes
	}
	if cfg.SendAttempts <= 0 {
		cfg.SendAttempts = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, log: cfg.Logger}, nil
}

// Object is an uploaded manifest.
type Object struct {
	Bucket    string
	Key       string // decoded, as stored
	VersionID string // empty in an unversioned bucket
	Size      int64  // from the event; 0 if unknown
}

// Handle processes every manifest an S3 event names. It returns an error
// when at least one of them should be tried again (see the package
// documentation); the error names each.
func (h *Handler) Handle(ctx context.Context, ev events.S3Event) error {
	if len(ev.Records) == 0 {
		h.log.Info("event without records ignored (an s3:TestEvent?)")
		return nil
	}
	var errs []error
	for _, r := range ev.Records {
		obj, ok := h.object(r)
		if !ok {
			continue
		}
		if _, err := h.Process(ctx, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", lambdarun.ManifestURI(obj.Bucket, obj.Key), err))
		}
	}
	return errors.Join(errs...)
}

// object returns the manifest a record names, or false when the record is
// not one to process.
func (h *Handler) object(r events.S3EventRecord) (Object, bool) {
	if r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
		h.log.Info("record without an S3 object ignored", "event", r.EventName)
		return Object{}, false
	}
	if r.EventName != "" && !strings.HasPrefix(r.EventName, "ObjectCreated:") {
		h.log.Info("record ignored: not an object creation", "event", r.EventName, "key", r.S3.Object.Key)
		return Object{}, false
	}
	key, err := lambdarun.DecodeKey(r.S3.Object.Key)
	if err != nil {
		h.log.Error("record ignored", "err", err)
		return Object{}, false
	}
	if skip := h.skipReason(r.S3.Bucket.Name, key); skip != "" {
		h.log.Info("object ignored", "bucket", r.S3.Bucket.Name, "key", key, "reason", skip)
		return Object{}, false
	}
	return Object{Bucket: r.S3.Bucket.Name, Key: key, VersionID: r.S3.Object.VersionID, Size: r.S3.Object.Size}, true
}

// skipReason says why key in bucket is not a manifest to process, or "".
// An object in a bucket that is not the stack's is processed, to say so
// in its summary.
func (h *Handler) skipReason(bucket, key string) string {
	switch {
	case strings.HasPrefix(key, h.cfg.SummaryPrefix):
		return "under the summary prefix"
	case strings.HasPrefix(key, stack.TrustPrefix):
		return "under the trust prefix"
	}
	if b, err := h.bucket(bucket); err == nil && !b.IsManifestKey(key) {
		return "not a " + strings.Join(b.KeySuffixes, " or ") + " file"
	}
	return ""
}

// Errors of the provider's buckets.
var (
	// ErrWrongBucket means a manifest is in another vendor's bucket.
	ErrWrongBucket = errors.New("manifest in another vendor's bucket")
	// ErrUnknownBucket means an event names a bucket that is not one of
	// the stack's.
	ErrUnknownBucket = errors.New("not one of the stack's buckets")
	// ErrNoTrustAnchors means the bucket of a vendor without a public CA
	// holds no stack.TrustAnchorsKey object.
	ErrNoTrustAnchors = errors.New("no trust anchors")
	// ErrNotTold means a manifest is done but its final summary or notice
	// failed; the event is tried again to tell it.
	ErrNotTold = results.ErrNotTold
)

// bucket returns the stack bucket named name.
func (h *Handler) bucket(name string) (stack.Bucket, error) {
	if len(h.cfg.Buckets) == 0 {
		if b, ok := stack.BucketBySuffix(name); ok {
			return b, nil
		}
	} else if v, ok := h.cfg.Buckets[name]; ok {
		if b, ok := stack.BucketOf(v); ok {
			return b, nil
		}
	}
	return stack.Bucket{}, fmt.Errorf("%w: bucket %s", ErrUnknownBucket, name)
}

// bucketName is the name of vendor v's bucket beside the bucket named
// near, for messages.
func (h *Handler) bucketName(near stack.Bucket, nearName string, v stack.Vendor) string {
	for name, bv := range h.cfg.Buckets {
		if bv == v {
			return name
		}
	}
	b, _ := stack.BucketOf(v)
	if len(h.cfg.Buckets) > 0 || !strings.HasSuffix(nearName, near.Suffix) {
		return "the stack's " + string(v) + " bucket"
	}
	return strings.TrimSuffix(nearName, near.Suffix) + b.Suffix
}

// SummaryKey is where the summary of the manifest at key is written.
func (h *Handler) SummaryKey(key string) string { return stack.SummaryKey(h.cfg.SummaryPrefix, key) }

// errPermanent marks a manifest that cannot be processed, now or later.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

func permanent(err error) error { return errPermanent{err} }

// errQueued reports a manifest version whose devices were queued
// already (S3 delivered its event again).
var errQueued = errors.New("manifest already queued")

// Process reads one manifest and queues its valid devices. The summary
// is written to the bucket and returned. The error is nil when the
// manifest was processed or can never be (the summary says why), and
// names the cause when trying again may help.
func (h *Handler) Process(ctx context.Context, obj Object) (stack.Summary, error) {
	uri := lambdarun.ManifestURI(obj.Bucket, obj.Key)
	log := h.log.With("manifest", uri)
	sum := stack.Summary{Manifest: uri, Started: h.stamp()}
	log.Info("manifest received", "size", obj.Size, "version", obj.VersionID)

	run := func() error {
		b, err := h.bucket(obj.Bucket)
		if err != nil {
			return permanent(err)
		}
		sum.Vendor = b.Vendor
		if b.Vendor == stack.VendorInfineon {
			sum.Slot = h.cfg.Slot
		}
		if obj.Size > h.cfg.MaxManifestBytes {
			return permanent(h.tooLarge(obj.Size))
		}
		if err := awsiot.Preflight(ctx, h.cfg.IoT, h.cfg.Target); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		store, err := h.trustFor(ctx, b, obj.Bucket)
		if err != nil {
			return err
		}
		signers, err := h.signersFor(ctx, b, obj.Bucket)
		if err != nil {
			return err
		}
		path, etag, version, err := h.download(ctx, obj)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		sum.ETag, sum.VersionID = etag, version
		if h.cfg.Results != nil {
			first, err := h.cfg.Results.Reading(ctx, results.ID(uri, sum.Version()), uri, etag)
			if err != nil {
				return err
			}
			if !first {
				return errQueued
			}
		}
		// A summary without Finished tells `thingpress status` the
		// manifest is being read.
		if err := h.putSummary(ctx, obj, sum); err != nil {
			return err
		}
		if err := h.checkVendor(path, obj, b); err != nil {
			return err
		}
		src, _, err := format.OpenConfig(ctx, path, readerFormat(b.Vendor),
			manifest.Options{Slot: h.cfg.Slot, TempDir: h.cfg.TempDir, Logger: log}, format.Config{Signers: signers})
		if err != nil {
			return classifyManifestErr(renameFile(err, path, obj.Key))
		}
		defer src.Close()
		return renameFile(h.fanOut(ctx, src, obj, store, &sum, log), path, obj.Key)
	}
	err := run()
	if errors.Is(err, errQueued) {
		log.Info("manifest version already queued: not read again", "etag", sum.ETag)
		// An earlier invocation may have completed it but failed to tell it.
		if terr := h.tellPending(ctx, results.ID(uri, sum.Version()), log); terr != nil {
			return sum, terr
		}
		return sum, nil
	}
	sum.Finished = h.stamp()
	terr := h.recordResult(ctx, uri, sum, err, log)
	retry := err != nil && !errors.As(err, new(errPermanent))
	if err != nil {
		sum.Error = err.Error()
		log.Error("manifest not processed to the end", "err", err, "retry", retry,
			"valid", sum.Valid, "invalid", sum.Invalid, "messages", sum.Messages)
	}
	// A summary that cannot be written is logged, not retried: reading
	// the manifest again would queue every device again for it.
	if perr := h.putSummary(ctx, obj, sum); perr != nil {
		log.Error("summary not written", "err", perr)
	}
	failed := 0
	if sum.Error != "" {
		failed = 1
	}
	if merr := h.cfg.Metrics.Emit(map[string]string{stack.MetricDimensionManifest: obj.Key},
		emf.Metric{Name: stack.MetricDevicesValid, Value: float64(sum.Valid)},
		emf.Metric{Name: stack.MetricDevicesInvalid, Value: float64(sum.Invalid)},
		emf.Metric{Name: stack.MetricMessagesSent, Value: float64(sum.Messages)},
		emf.Metric{Name: stack.MetricManifestsFailed, Value: float64(failed)},
	); merr != nil {
		log.Error("metrics not written", "err", merr)
	}
	if err == nil {
		log.Info("manifest done", "devices", sum.Total, "valid", sum.Valid, "invalid", sum.Invalid,
			"reasons", sum.Reasons, "messages", sum.Messages, "reels", sum.ReelIDs, "batches", sum.BatchIDs)
	}
	if terr != nil {
		// Tried again, the event finds the manifest queued, and tells it.
		return sum, terr
	}
	if !retry {
		return sum, nil
	}
	return sum, err
}

// readerFormat is the format the bucket of vendor v forces: Infineon's
// takes its reel bundles and XML manifests, told apart by content.
func readerFormat(v stack.Vendor) format.Format {
	if v == stack.VendorInfineon {
		return format.InfineonAny
	}
	return format.Format(v)
}

// vendorOf is the bucket vendor of a detected format.
func vendorOf(f format.Format) stack.Vendor {
	if f == format.Infineon || f == format.XML {
		return stack.VendorInfineon
	}
	return stack.Vendor(f)
}

// checkVendor refuses a manifest whose content is another vendor's than
// its bucket's. Content that no reader recognises is left to the
// bucket's reader, which says what is wrong with it.
func (h *Handler) checkVendor(path string, obj Object, b stack.Bucket) error {
	d, err := format.Detect(path)
	if errors.Is(err, format.ErrEmpty) {
		return permanent(renameFile(err, path, obj.Key))
	}
	if err != nil || vendorOf(d) == b.Vendor {
		return nil
	}
	name := d.Vendor()
	if name == "" {
		name = string(d)
	}
	return permanent(&manifest.Error{File: obj.Key, Err: fmt.Errorf(
		"%w: its content is of vendor %s, and bucket %s takes %s manifests: put it into %s",
		ErrWrongBucket, name, obj.Bucket, b.Vendor, h.bucketName(b, obj.Bucket, vendorOf(d)))})
}

// trustFor is what the chains of bucket b's devices are checked against:
// Infineon's CAs, nothing for Microchip (the manifest signature
// authenticates each entry), the bucket's trust anchors for the others.
func (h *Handler) trustFor(ctx context.Context, b stack.Bucket, bucket string) (*trust.Store, error) {
	switch {
	case b.Vendor == stack.VendorInfineon:
		return h.cfg.Trust, nil
	case !b.NeedsTrust:
		return nil, nil
	}
	uri := lambdarun.ManifestURI(bucket, stack.TrustAnchorsKey)
	data, err := h.trustObject(ctx, bucket, stack.TrustAnchorsKey)
	switch {
	case err != nil:
		return nil, err
	case data == nil && h.cfg.NoVerifyChain:
		return nil, nil
	case data == nil:
		return nil, permanent(fmt.Errorf("%w: %s is missing: %s certificates have no public CA to check their chains against; "+
			"put the PEM certificates of their CAs there (self-signed ones are roots), or deploy the stack with NoVerifyChain=true "+
			"to import them unchecked, then upload the manifest again", ErrNoTrustAnchors, uri, b.Vendor))
	}
	s, err := trust.FromPEM(data)
	if err != nil {
		return nil, permanent(fmt.Errorf("%s: %w", uri, err))
	}
	return s, nil
}

// signersFor is what bucket b's Microchip manifests are verified against:
// the configured signers, and those of the bucket's stack.SignersKey
// object when there is one.
func (h *Handler) signersFor(ctx context.Context, b stack.Bucket, bucket string) (*microchip.Signers, error) {
	if !b.TakesSigners {
		return h.cfg.Signers, nil
	}
	data, err := h.trustObject(ctx, bucket, stack.SignersKey)
	if err != nil || data == nil {
		return h.cfg.Signers, err
	}
	s := &microchip.Signers{}
	for _, g := range h.cfg.Signers.List() {
		if err := s.Add(g.Cert); err != nil {
			return nil, err
		}
	}
	if err := s.AddPEM(data); err != nil {
		return nil, permanent(fmt.Errorf("%s: %w", lambdarun.ManifestURI(bucket, stack.SignersKey), err))
	}
	return s, nil
}

// trustObject reads the object key of bucket, one of the stack's trust
// objects, or returns nil if there is none.
func (h *Handler) trustObject(ctx context.Context, bucket, key string) ([]byte, error) {
	uri := lambdarun.ManifestURI(bucket, key)
	out, err := h.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		// The role may list the bucket, so that S3 answers a missing key
		// with NoSuchKey, not AccessDenied: an object that is there but
		// may not be read is never taken for a missing one.
		var nsk *types.NoSuchKey
		var api smithy.APIError
		switch {
		case errors.As(err, &nsk) || errors.As(err, &api) && api.ErrorCode() == "NoSuchKey":
			return nil, nil
		case errors.As(err, &api) && api.ErrorCode() == "AccessDenied":
			return nil, permanent(fmt.Errorf("%w: %s cannot be read (AccessDenied): check the provider's role and the object's encryption, "+
				"then upload the manifest again", ErrNoTrustAnchors, uri))
		}
		return nil, fmt.Errorf("get %s: %w", uri, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, stack.MaxTrustAnchorsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	if len(data) > stack.MaxTrustAnchorsBytes {
		return nil, permanent(fmt.Errorf("%s: %w: more than %d bytes", uri, manifest.ErrTooLarge, stack.MaxTrustAnchorsBytes))
	}
	return data, nil
}

// recordResult files the end of the reading in the results table and,
// when the manifest is done (e.g. it has no valid device), tells it. The
// error is that of telling it, which trying the event again can mend.
func (h *Handler) recordResult(ctx context.Context, uri string, sum stack.Summary, err error, log *slog.Logger) error {
	if h.cfg.Results == nil || sum.ETag == "" {
		return nil // not read: no item
	}
	id := results.ID(uri, sum.Version())
	if err != nil {
		if ferr := h.cfg.Results.Fail(ctx, id, err.Error()); ferr != nil {
			log.Error("results table not updated", "err", ferr)
		}
		return nil
	}
	m, done, qerr := h.cfg.Results.Queued(ctx, id, sum.Valid)
	if qerr != nil {
		log.Error("results table not updated", "err", qerr)
		return nil
	}
	if !done {
		return nil
	}
	log.Info("manifest done", "valid", m.Valid, "imported", m.Imported, "existing", m.Exists, "failed", m.Failed)
	return h.tell(ctx, m, log)
}

// tellPending tells the end of a manifest the results table has as done
// but not told.
func (h *Handler) tellPending(ctx context.Context, id string, log *slog.Logger) error {
	if h.cfg.Results == nil {
		return nil
	}
	m, done, err := h.cfg.Results.CheckDone(ctx, id)
	if err != nil {
		return err
	}
	if !done {
		return nil
	}
	log.Info("manifest done before; telling its end")
	return h.tell(ctx, m, log)
}

// tell writes the final summary and the notice of a manifest done and
// marks it told.
func (h *Handler) tell(ctx context.Context, m results.Manifest, log *slog.Logger) error {
	if err := h.cfg.Results.Finish(ctx, h.cfg.Finish, m); err != nil {
		log.Error("manifest done, but its end not told; the event is tried again", "err", err)
		return fmt.Errorf("%w: %w", ErrNotTold, err)
	}
	return nil
}

func (h *Handler) stamp() string { return h.cfg.Now().UTC().Format(time.RFC3339) }

func (h *Handler) tooLarge(n int64) error {
	return fmt.Errorf("%w: the object is %d bytes, more than %s=%d", manifest.ErrTooLarge, n, stack.EnvMaxManifestBytes, h.cfg.MaxManifestBytes)
}

// renameFile makes a manifest error name the object key instead of the
// copy in ephemeral storage.
func renameFile(err error, from, to string) error {
	var me *manifest.Error
	if errors.As(err, &me) && me.File == from {
		me.File = to
	}
	return err
}

// classifyManifestErr marks the errors of a manifest that reading again
// cannot change as permanent; an I/O error of the ephemeral storage is
// not.
func classifyManifestErr(err error) error {
	for _, e := range []error{manifest.ErrFormat, manifest.ErrMalformed, manifest.ErrTooLarge,
		manifest.ErrEncrypted, manifest.ErrUnsupported, manifest.ErrSlotMissing, manifest.ErrBadSlot} {
		if errors.Is(err, e) {
			return permanent(err)
		}
	}
	return err
}

// download copies the object to a file in TempDir, never holding it in
// memory, and returns the file's path and the object's ETag and version.
func (h *Handler) download(ctx context.Context, obj Object) (path, etag, version string, err error) {
	// The current object, not obj.VersionID: reading a version needs
	// s3:GetObjectVersion, and a newer upload has its own event anyway.
	out, err := h.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return "", "", "", permanent(fmt.Errorf("the object no longer exists: %w", err))
		}
		return "", "", "", fmt.Errorf("get object: %w", err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > h.cfg.MaxManifestBytes {
		return "", "", "", permanent(h.tooLarge(n))
	}
	f, err := os.CreateTemp(h.cfg.TempDir, "manifest-*")
	if err != nil {
		return "", "", "", fmt.Errorf("ephemeral storage: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, io.LimitReader(out.Body, h.cfg.MaxManifestBytes+1))
	if err != nil {
		return "", "", "", fmt.Errorf("copy object to %s: %w", h.cfg.TempDir, err)
	}
	if n > h.cfg.MaxManifestBytes {
		return "", "", "", permanent(h.tooLarge(n))
	}
	if err = f.Close(); err != nil {
		return "", "", "", fmt.Errorf("copy object to %s: %w", h.cfg.TempDir, err)
	}
	return f.Name(), strings.Trim(aws.ToString(out.ETag), `"`), aws.ToString(out.VersionId), nil
}

func (h *Handler) putSummary(ctx context.Context, obj Object, sum stack.Summary) error {
	body, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	_, err = h.cfg.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(obj.Bucket),
		Key:         aws.String(h.SummaryKey(obj.Key)),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
