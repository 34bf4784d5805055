package stack

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
	// EnvTrustAnchorsPEM, when not empty, replaces the CAs embedded in
	// the provider (Infineon's) with the PEM certificates it holds:
	// self-signed ones are roots, the others intermediates that must
	// chain to them. For another chip maker's CAs, or a test CA. Lambda
	// caps a function's environment at 4 KB in all, which fits a few
	// certificates.
	EnvTrustAnchorsPEM = "TRUST_ANCHORS_PEM"
	// EnvResultsTable is the DynamoDB table of manifest and device
	// outcomes (internal/results); empty means none.
	EnvResultsTable = "RESULTS_TABLE"
	// EnvResultsTopicARN is the SNS topic told once when a manifest is
	// done; empty means none.
	EnvResultsTopicARN = "RESULTS_TOPIC_ARN"
)

// Names in the stack that the functions and the CLI rely on.
const (
	// BucketSuffix makes the upload bucket's name: <stack name>-infineon.
	BucketSuffix = "-infineon"
	// Logical IDs of the queues in template.yaml; `thingpress status`
	// finds them with DescribeStackResources.
	LogicalImportQueue             = "ImportQueue"
	LogicalImportDeadLetterQueue   = "ImportDeadLetterQueue"
	LogicalProviderDeadLetterQueue = "ProviderDeadLetterQueue"
	// LogicalResultsTable is the results table; its physical ID is its
	// name.
	LogicalResultsTable = "ResultsTable"
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
	Round   int      `json:"round,omitempty"`
	Devices []Device `json:"devices"`
}

// Device is one valid device to import.
type Device struct {
	ChipID         string `json:"chip_id,omitempty"`
	ReelID         string `json:"reel_id,omitempty"`
	BatchID        string `json:"batch_id,omitempty"`
	ThingName      string `json:"thing_name"`
	CertificateID  string `json:"certificate_id"` // hex SHA-256 of the DER
	CertificatePEM string `json:"certificate_pem"`
	// Attributes are the vendor's Thing attributes beyond the chip, reel
	// and batch IDs (manifest.Record.Attributes).
	Attributes map[string]string `json:"attributes,omitempty"`
	// The importer fills in the rest when it sends a device back to the
	// queue: the steps already done (as internal/state names them), the
	// registered certificate's ARN, and whether it was registered before.
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
	Manifest string `json:"manifest"`
	ETag     string `json:"etag,omitempty"`
	// VersionID is the object's version in a versioned bucket.
	VersionID string         `json:"version_id,omitempty"`
	Started   string         `json:"started"` // RFC 3339
	Finished  string         `json:"finished"`
	Slot      string         `json:"slot"`
	ReelIDs   []string       `json:"reel_ids,omitempty"`
	BatchIDs  []string       `json:"batch_ids,omitempty"`
	Devices   int            `json:"devices"`
	Valid     int            `json:"valid"`
	Invalid   int            `json:"invalid"`
	Reasons   map[string]int `json:"reasons,omitempty"`
	Messages  int            `json:"messages"`
	Error     string         `json:"error,omitempty"`
}

// ResultKey is where the final summary of the manifest at manifestKey is
// written when its last device has an outcome: next to SummaryKey.
func ResultKey(prefix, manifestKey string) string { return prefix + manifestKey + ResultSuffix }

// ResultSuffix ends the key of a final summary.
const ResultSuffix = ".result.json"
