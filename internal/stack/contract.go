package stack

import (
	"encoding/json"
	"strings"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/outcome"
)

// Environment variables set by template.yaml and read by the functions.
const (
	// EnvImportQueueURL is the import queue (provider sends, importer
	// re-sends devices whose retries ran out).
	EnvImportQueueURL = "IMPORT_QUEUE_URL"
	// EnvPolicyNames is the policy to attach to each certificate
	// (comma-separated, the template passes one).
	EnvPolicyNames = "POLICY_NAMES"
	// EnvThingType is the thing type of each Thing; empty means none.
	EnvThingType = "THING_TYPE_NAME"
	// EnvThingGroups is the thing group(s) of each Thing, comma-separated;
	// empty means none.
	EnvThingGroups = "THING_GROUP_NAMES"
	// EnvCertificateType is the slot to read: E0E0, E0E1 or E0E2.
	EnvCertificateType = "CERTIFICATE_TYPE"
	// EnvQuotaRegister is the account's RegisterCertificateWithoutCA quota
	// (TPS, default 10); EnvQuotaAttachPolicy likewise for AttachPolicy
	// (default 15). The other operations use AWS's defaults.
	EnvQuotaRegister     = "QUOTA_REGISTER_TPS"
	EnvQuotaAttachPolicy = "QUOTA_ATTACH_POLICY_TPS"
	// EnvImporterConcurrency is the import event source's
	// MaximumConcurrency: each importer invocation paces itself at
	// quota / EnvImporterConcurrency so that all of them together stay
	// under the account's quotas.
	EnvImporterConcurrency = "IMPORTER_MAX_CONCURRENCY"
	// EnvDevicesPerMessage is how many devices the provider puts in one
	// SQS message (default 25).
	EnvDevicesPerMessage = "DEVICES_PER_MESSAGE"
	// EnvSummaryPrefix is the key prefix in the upload bucket under which
	// the provider writes one JSON summary per manifest (default
	// "thingpress/summaries/"); the upload trigger ignores it.
	EnvSummaryPrefix = "SUMMARY_PREFIX"
	// EnvMaxManifestBytes caps the size of a manifest the provider
	// accepts (default 8 GiB; the function's ephemeral storage must hold
	// it).
	EnvMaxManifestBytes = "MAX_MANIFEST_BYTES"
	// EnvMetricsNamespace is the CloudWatch namespace of the functions'
	// embedded metrics (default "Thingpress").
	EnvMetricsNamespace = "METRICS_NAMESPACE"
	// EnvTrustAnchorsPEM, when not empty, replaces the CAs the provider
	// embeds for the Infineon bucket (Infineon's) with the PEM
	// certificates it holds: self-signed ones are roots, the others
	// intermediates that must chain to them; a test CA, say. Lambda caps
	// a function's environment at 4 KB in all, which fits a few
	// certificates. The other vendors' trust is per bucket (Bucket).
	EnvTrustAnchorsPEM = "TRUST_ANCHORS_PEM"
	// EnvInfineonBucket, EnvMicrochipBucket, EnvEspressifBucket and
	// EnvGeneratedBucket name the stack's upload buckets: the provider
	// reads a manifest as the vendor of the bucket it is in.
	EnvInfineonBucket  = "INFINEON_BUCKET"
	EnvMicrochipBucket = "MICROCHIP_BUCKET"
	EnvEspressifBucket = "ESPRESSIF_BUCKET"
	EnvGeneratedBucket = "GENERATED_BUCKET"
	// EnvNoVerifyChain, when "true", lets the provider import Espressif
	// and generated manifests without checking their certificates' chains
	// when their bucket holds no TrustAnchorsKey object.
	EnvNoVerifyChain = "NO_VERIFY_CHAIN"
	// EnvResultsTable is the DynamoDB table of manifest and device
	// outcomes (internal/results); empty means none.
	EnvResultsTable = "RESULTS_TABLE"
	// EnvResultsTopicARN is the SNS topic told when a manifest is done
	// (at least once); empty means none.
	EnvResultsTopicARN = "RESULTS_TOPIC_ARN"
)

// Vendor names a stack bucket's chip maker, as the bucket's name ends.
type Vendor string

// The vendors of the stack's buckets.
const (
	VendorInfineon  Vendor = "infineon"
	VendorMicrochip Vendor = "microchip"
	VendorEspressif Vendor = "espressif"
	VendorGenerated Vendor = "generated"
)

// Bucket describes one of the stack's upload buckets.
type Bucket struct {
	Vendor Vendor
	// Suffix makes the bucket's name: <stack name><Suffix>.
	Suffix string
	// Logical is the bucket's logical ID in template.yaml.
	Logical string
	// Env is the provider's environment variable naming the bucket.
	Env string
	// KeySuffixes are the object key endings that start processing
	// (S3's filters match case; the provider ignores it).
	KeySuffixes []string
	// NeedsTrust says that the vendor has no public CA: the bucket's
	// TrustAnchorsKey object holds the CAs its chains are checked against.
	NeedsTrust bool
	// TakesSigners says that the bucket's SignersKey object, if there is
	// one, adds manifest signers to the embedded ones.
	TakesSigners bool
}

// Buckets are the stack's upload buckets, one per vendor.
var Buckets = []Bucket{
	{Vendor: VendorInfineon, Suffix: BucketSuffix, Logical: "UploadBucket", Env: EnvInfineonBucket, KeySuffixes: []string{ManifestSuffix7z, ManifestSuffixXML}},
	{Vendor: VendorMicrochip, Suffix: "-microchip", Logical: "MicrochipBucket", Env: EnvMicrochipBucket, KeySuffixes: []string{".json"}, TakesSigners: true},
	{Vendor: VendorEspressif, Suffix: "-espressif", Logical: "EspressifBucket", Env: EnvEspressifBucket, KeySuffixes: []string{".csv"}, NeedsTrust: true},
	{Vendor: VendorGenerated, Suffix: "-generated", Logical: "GeneratedBucket", Env: EnvGeneratedBucket, KeySuffixes: []string{".txt"}, NeedsTrust: true},
}

// BucketOf returns the description of vendor's bucket.
func BucketOf(v Vendor) (Bucket, bool) {
	for _, b := range Buckets {
		if b.Vendor == v {
			return b, true
		}
	}
	return Bucket{}, false
}

// BucketBySuffix returns the bucket whose suffix ends name.
func BucketBySuffix(name string) (Bucket, bool) {
	for _, b := range Buckets {
		if strings.HasSuffix(name, b.Suffix) {
			return b, true
		}
	}
	return Bucket{}, false
}

// IsManifestKey reports whether key ends in one of b's KeySuffixes,
// ignoring case.
func (b Bucket) IsManifestKey(key string) bool {
	lower := strings.ToLower(key)
	for _, s := range b.KeySuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// TrustAnchorsKey is the object, in the bucket of a vendor that
// NeedsTrust, holding the PEM CA certificates its devices' chains are
// checked against; TrustPrefix is the key prefix the provider ignores.
const (
	TrustPrefix     = "trust/"
	TrustAnchorsKey = TrustPrefix + "ca.pem"
	// SignersKey is the object, in the bucket of a vendor that
	// TakesSigners, holding PEM manifest signer certificates of the
	// customer's own (thingpress --signer's).
	SignersKey = TrustPrefix + "signers.pem"
	// MaxTrustAnchorsBytes caps the TrustAnchorsKey and SignersKey objects.
	MaxTrustAnchorsBytes = 1 << 20
)

// Names in the stack that the functions and the CLI rely on.
const (
	// BucketSuffix makes the Infineon upload bucket's name: <stack
	// name>-infineon (Buckets lists them all).
	BucketSuffix = "-infineon"
	// Logical IDs of the queues in template.yaml; `thingpress status`
	// finds them with DescribeStackResources.
	LogicalImportQueue             = "ImportQueue"
	LogicalImportDeadLetterQueue   = "ImportDeadLetterQueue"
	LogicalProviderDeadLetterQueue = "ProviderDeadLetterQueue"
	// LogicalResultsTable is the results table; its physical ID is its
	// name.
	LogicalResultsTable = "ResultsTable"
	// ParamResultsTopicARN is the template's parameter naming the SNS
	// topic told when a manifest is done ("" for none).
	ParamResultsTopicARN = "ResultsTopicArn"
	// ManifestSuffix7z and ManifestSuffixXML are the object key endings
	// that start processing (the provider ignores case).
	ManifestSuffix7z  = ".7z"
	ManifestSuffixXML = ".xml"
)

// Embedded Metric Format metrics the functions emit, in the namespace of
// EnvMetricsNamespace, each with the one dimension MetricDimensionManifest
// (the manifest's object key).
const (
	MetricDimensionManifest = "Manifest"
	// Provider, once per manifest.
	MetricDevicesValid    = "DevicesValid"
	MetricDevicesInvalid  = "DevicesInvalid"
	MetricMessagesSent    = "MessagesSent"
	MetricManifestsFailed = "ManifestsFailed" // 1 when a manifest could not be read to the end
	// Importer, once per manifest per invocation.
	MetricDevicesImported  = "DevicesImported"
	MetricDevicesExisting  = "DevicesExisting"
	MetricDevicesFailed    = "DevicesFailed"
	MetricThrottledRetries = "ThrottledRetries"
	MetricDevicesRequeued  = "DevicesRequeued" // sent back to the queue to finish later
	// Both, the results table's counts of a manifest after each write
	// (gauges: read them with the Maximum statistic).
	MetricResultValid  = "ResultValid"
	MetricResultEnded  = "ResultEnded" // imported + already there + failed
	MetricResultFailed = "ResultFailed"
)

// Defaults of the values above.
const (
	DefaultDevicesPerMessage = 25
	DefaultSummaryPrefix     = "thingpress/summaries/"
	DefaultMetricsNamespace  = "Thingpress"
	DefaultMaxManifestBytes  = 8 << 30
)

// MaxMessageBytes is SQS's limit on one message and on one
// SendMessageBatch (256 KiB), which import queue messages keep under.
const MaxMessageBytes = 256 << 10

// Message is the body (JSON) of one import queue message.
type Message struct {
	// Manifest is "s3://bucket/key" of the manifest the devices come from.
	Manifest string `json:"manifest"`
	// ManifestETag identifies the object version that was read.
	ManifestETag string `json:"manifest_etag,omitempty"`
	// ManifestVersion is the object's version ID in a versioned bucket.
	ManifestVersion string `json:"manifest_version,omitempty"`
	// Attempt counts how often the importer sent these devices back to
	// the queue because their retries ran out (0 from the provider).
	Attempt int `json:"attempt,omitempty"`
	// Round is the retry round of `thingpress retry` that queued the
	// devices (0 from the provider).
	Round   int            `json:"round,omitempty"`
	Devices []QueuedDevice `json:"devices"`
}

// QueuedDevice is one device of an import queue message: the device to
// import and, when the importer sent it back to the queue, the steps it
// already made (as internal/state names them), the registered
// certificate's ARN, and whether that certificate was registered before.
type QueuedDevice struct {
	importer.Device
	CertificateARN string   `json:"certificate_arn,omitempty"`
	Existed        bool     `json:"existed,omitempty"`
	Done           []string `json:"done,omitempty"`
}

// Version names the manifest version the message's devices come from:
// the object's version ID, or its ETag in an unversioned bucket.
func (m Message) Version() string { return version(m.ManifestVersion, m.ManifestETag) }

// Version names the manifest version the summary is of, as
// Message.Version does.
func (s Summary) Version() string { return version(s.VersionID, s.ETag) }

func version(id, etag string) string {
	if id != "" {
		return id
	}
	return etag
}

// SummaryKey is where the provider writes the summary of the manifest at
// manifestKey: <prefix><manifest key>.json.
func SummaryKey(prefix, manifestKey string) string { return prefix + manifestKey + ".json" }

// Summary is what the provider writes, as JSON, to
// SummaryKey(SummaryPrefix, manifest key) when it has read a manifest.
type Summary struct {
	Manifest string
	Vendor   Vendor // the bucket's
	ETag     string
	// VersionID is the object's version in a versioned bucket.
	VersionID string
	Started   string // RFC 3339
	Finished  string
	Slot      string
	ReelIDs   []string
	BatchIDs  []string
	// Counts are the devices after the checks; the JSON holds Total (as
	// "devices"), Valid, Invalid and Reasons.
	outcome.Counts
	Messages int
	Error    string
}

// summaryJSON is the form of a Summary in the bucket.
type summaryJSON struct {
	Manifest  string         `json:"manifest"`
	Vendor    Vendor         `json:"vendor,omitempty"` // the bucket's
	ETag      string         `json:"etag,omitempty"`
	VersionID string         `json:"version_id,omitempty"`
	Started   string         `json:"started"`
	Finished  string         `json:"finished"`
	Slot      string         `json:"slot,omitempty"` // Infineon only
	ReelIDs   []string       `json:"reel_ids,omitempty"`
	BatchIDs  []string       `json:"batch_ids,omitempty"`
	Devices   int            `json:"devices"`
	Valid     int            `json:"valid"`
	Invalid   int            `json:"invalid"`
	Reasons   map[string]int `json:"reasons,omitempty"`
	Messages  int            `json:"messages"`
	Error     string         `json:"error,omitempty"`
}

// MarshalJSON writes s in the bucket's form.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{
		Manifest: s.Manifest, Vendor: s.Vendor, ETag: s.ETag, VersionID: s.VersionID, Started: s.Started, Finished: s.Finished, Slot: s.Slot,
		ReelIDs: s.ReelIDs, BatchIDs: s.BatchIDs,
		Devices: s.Total, Valid: s.Valid, Invalid: s.Invalid, Reasons: s.Reasons,
		Messages: s.Messages, Error: s.Error,
	})
}

// UnmarshalJSON reads s in the bucket's form.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var j summaryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Summary{
		Manifest: j.Manifest, Vendor: j.Vendor, ETag: j.ETag, VersionID: j.VersionID, Started: j.Started, Finished: j.Finished, Slot: j.Slot,
		ReelIDs: j.ReelIDs, BatchIDs: j.BatchIDs,
		Counts:   outcome.Counts{Total: j.Devices, Valid: j.Valid, Invalid: j.Invalid, Reasons: j.Reasons},
		Messages: j.Messages, Error: j.Error,
	}
	return nil
}

// ResultKey is where the final summary of the manifest at manifestKey is
// written when its last device has an outcome: next to SummaryKey.
func ResultKey(prefix, manifestKey string) string { return prefix + manifestKey + ResultSuffix }

// ResultSuffix ends the key of a final summary.
const ResultSuffix = ".result.json"
