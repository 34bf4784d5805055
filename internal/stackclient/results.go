package stackclient

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
)

// ErrNoTable means the stack has no results table (deployed before it
// had one).
var ErrNoTable = errors.New("stack has no results table: deploy the current template.yaml")

// ManifestInput names one manifest of a stack.
type ManifestInput struct {
	Stack string
	// Bucket overrides BucketName(Stack).
	Bucket        string
	SummaryPrefix string // default stack.DefaultSummaryPrefix
	// Manifest is the manifest's object key, or its s3://bucket/key URI.
	Manifest string
}

// manifestRef is a manifest found in the stack.
type manifestRef struct {
	table, uri, etag, version, id, key, bucket string
	summary                                    stack.Summary
	resources                                  stackResources
}

func (in *ManifestInput) defaults() {
	if in.Bucket == "" {
		in.Bucket = BucketName(in.Stack)
	}
	if in.SummaryPrefix == "" {
		in.SummaryPrefix = stack.DefaultSummaryPrefix
	}
}

// find resolves a manifest to its item in the results table: the
// provider's summary gives the version (ETag) that was read.
func (c *Client) find(ctx context.Context, in ManifestInput) (*manifestRef, error) {
	in.defaults()
	res, err := c.resources(ctx, in.Stack)
	if err != nil {
		return nil, err
	}
	table := res.resultsTable()
	if table == "" {
		return nil, fmt.Errorf("stack %s: %w", in.Stack, ErrNoTable)
	}
	r := &manifestRef{table: table, bucket: in.Bucket, key: in.Manifest, resources: res}
	if b, k, err := results.SplitURI(in.Manifest); err == nil {
		r.bucket, r.key = b, k
	}
	if r.summary, err = c.Summary(ctx, r.bucket, in.SummaryPrefix, r.key); err != nil {
		return nil, fmt.Errorf("manifest %s: no summary of the provider: %w", r.key, err)
	}
	r.uri = "s3://" + r.bucket + "/" + r.key
	r.etag, r.version = r.summary.ETag, r.summary.VersionID
	r.id = results.ID(r.uri, r.summary.Version())
	return r, nil
}

// Failed is a manifest's failed devices.
type Failed struct {
	Summary stack.Summary // the provider's
	Results results.Manifest
	Devices []results.Device
}

// FailedDevices returns the manifest's results and the devices that
// failed.
func (c *Client) FailedDevices(ctx context.Context, in ManifestInput) (Failed, error) {
	r, err := c.find(ctx, in)
	if err != nil {
		return Failed{}, err
	}
	f := Failed{Summary: r.summary}
	tb := results.New(c.DynamoDB, r.table)
	if f.Results, err = tb.Get(ctx, r.id); err != nil {
		return f, err
	}
	f.Devices, err = tb.FailedDevices(ctx, r.id)
	return f, err
}

// WriteJSONLines writes one JSON object per device: chip, Thing name,
// certificate ID, outcome, reason and attempts.
func WriteJSONLines(w io.Writer, devs []results.Device) error {
	enc := json.NewEncoder(w)
	for _, d := range devs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return nil
}

// xmlManifest is the XML manifest form the stack reads.
type xmlManifest struct {
	XMLName xml.Name    `xml:"CertificateManifest"`
	Vendor  string      `xml:"vendor,attr"`
	ReelID  string      `xml:"reelId,attr,omitempty"`
	BatchID string      `xml:"batchId,attr,omitempty"`
	Devices []xmlDevice `xml:"Device"`
}

type xmlDevice struct {
	ChipID      string  `xml:"chipId,attr"`
	Certificate xmlCert `xml:"Certificate"`
}

type xmlCert struct {
	Slot string `xml:"slot,attr"`
	PEM  string `xml:",chardata"`
}

// errNoCertificate marks a failed device whose item keeps no
// certificate, which can be neither written as a manifest nor retried.
var errNoCertificate = errors.New("the results table keeps no certificate of the device")

// WriteXMLManifest writes devs as an XML manifest of slot that the
// stack accepts when uploaded (the reel and batch IDs of the first
// device name the manifest's).
func WriteXMLManifest(w io.Writer, slot string, devs []results.Device) error {
	m := xmlManifest{Vendor: "Infineon"}
	if len(devs) > 0 {
		m.ReelID, m.BatchID = devs[0].ReelID, devs[0].BatchID
	}
	for _, d := range devs {
		if d.CertificatePEM == "" {
			return fmt.Errorf("device %s (%s): %w", d.ChipID, d.ThingName, errNoCertificate)
		}
		m.Devices = append(m.Devices, xmlDevice{ChipID: d.ChipID, Certificate: xmlCert{Slot: slot, PEM: d.CertificatePEM}})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// RetryInput says which manifest's failed devices to queue again.
type RetryInput struct {
	ManifestInput
	// DevicesPerMessage is the most devices in one message (default
	// stack.DefaultDevicesPerMessage).
	DevicesPerMessage int
}

// RetryResult is what Retry queued.
type RetryResult struct {
	Manifest string `json:"manifest"`
	Round    int    `json:"round"`
	Devices  int    `json:"devices"`
	Messages int    `json:"messages"`
}

// ErrRetryIncomplete means a retry queued only some of the failed
// devices (maybe none); RetryError says which.
var ErrRetryIncomplete = errors.New("retry: not every failed device was queued")

// RetryError is what a retry that could not queue all its devices did.
type RetryError struct {
	Manifest string
	Round    int
	// Queued and NotQueued are devices of the retry; the devices not
	// queued were taken out of the round and stay failed.
	Queued, NotQueued int
	// Left is set when they were taken out of the round, Done when that
	// completed the manifest, Told when its end (final summary and
	// notice) was then told.
	Left, Done, Told bool
	// Err is the send's error; Cleanup what went wrong afterwards.
	Err, Cleanup error
}

func (e *RetryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: retry %d queued %d of its %d failed devices; %d not queued", e.Manifest, e.Round, e.Queued, e.Queued+e.NotQueued, e.NotQueued)
	if !e.Left {
		fmt.Fprintf(&b, ", and taking them out of the retry failed (%v): the manifest stays importing", e.Cleanup)
	} else {
		b.WriteString(" stay failed: run thingpress retry again once the manifest is done")
		switch {
		case e.Done && e.Told:
			b.WriteString(" (it is done now, its end told)")
		case e.Done:
			fmt.Fprintf(&b, " (it is done now, but its end not told: %v)", e.Cleanup)
		case e.Cleanup != nil:
			fmt.Fprintf(&b, " (whether it is done now is not known: %v)", e.Cleanup)
		}
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *RetryError) Unwrap() []error { return []error{ErrRetryIncomplete, e.Err} }

// cleanupTimeout bounds the writes that take unsent devices out of a
// retry, which run even when the send failed because ctx ended.
const cleanupTimeout = 30 * time.Second

// Retry queues the failed devices of a done manifest again: the manifest
// goes to importing until each of them has a new outcome, then to done.
// A manifest without failed devices is left as it is. When a send fails,
// the devices not queued are taken out of the retry (they stay failed),
// the manifest is done as soon as the ones queued are, and the error is
// a *RetryError.
func (c *Client) Retry(ctx context.Context, in RetryInput) (RetryResult, error) {
	if in.DevicesPerMessage <= 0 {
		in.DevicesPerMessage = stack.DefaultDevicesPerMessage
	}
	r, err := c.find(ctx, in.ManifestInput)
	if err != nil {
		return RetryResult{}, err
	}
	res := RetryResult{Manifest: r.uri}
	urls, err := r.resources.queues(in.Stack)
	if err != nil {
		return res, err
	}
	tb := results.New(c.DynamoDB, r.table)
	devs, err := tb.FailedDevices(ctx, r.id)
	if err != nil || len(devs) == 0 {
		return res, err
	}
	var out []stack.QueuedDevice
	for _, d := range devs {
		if d.CertificatePEM == "" {
			return res, fmt.Errorf("device %s (%s): %w", d.ChipID, d.ThingName, errNoCertificate)
		}
		out = append(out, stack.QueuedDevice{Device: importer.Device{
			ChipID: d.ChipID, ReelID: d.ReelID, BatchID: d.BatchID, ThingName: d.ThingName,
			CertificateID: d.CertificateID, CertificatePEM: d.CertificatePEM, Attributes: d.Attributes,
		}})
	}
	if res.Round, err = tb.StartRetry(ctx, r.id, len(out)); err != nil {
		return res, err
	}
	for len(out) > 0 {
		n := min(len(out), in.DevicesPerMessage)
		body, err := json.Marshal(stack.Message{Manifest: r.uri, ManifestETag: r.etag, ManifestVersion: r.version, Round: res.Round, Devices: out[:n]})
		if err == nil && len(body) > stack.MaxMessageBytes && n > 1 {
			in.DevicesPerMessage = max(n/2, 1)
			continue
		}
		if err == nil {
			_, err = c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(urls[stack.LogicalImportQueue]), MessageBody: aws.String(string(body))})
		}
		if err != nil {
			return res, c.leaveRetry(ctx, in.ManifestInput, tb, r, res, devs[res.Devices:], fmt.Errorf("queue devices: %w", err))
		}
		res.Devices += n
		res.Messages++
		out = out[n:]
	}
	return res, nil
}

// leaveRetry takes the devices of a retry that were not queued out of
// its round and, when that completes the manifest, tells its end as the
// stack does. It returns the *RetryError that says so.
func (c *Client) leaveRetry(ctx context.Context, in ManifestInput, tb *results.Table, r *manifestRef, res RetryResult, unsent []results.Device, sendErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	e := &RetryError{Manifest: r.uri, Round: res.Round, Queued: res.Devices, NotQueued: len(unsent), Err: sendErr}
	left, err := tb.LeaveRetry(ctx, r.id, res.Round, unsent)
	if err != nil {
		e.Cleanup = err
		return e
	}
	// A device recorded already was queued after all (SQS took the
	// message whose send failed).
	e.Left, e.Queued, e.NotQueued = true, res.Devices+len(unsent)-left, left
	m, done, err := tb.CheckDone(ctx, r.id)
	if err != nil {
		e.Cleanup = err
		return e
	}
	if !done {
		return e
	}
	e.Done = true
	f, err := c.finisher(ctx, in)
	if err != nil {
		// Without the topic, the final summary alone; the manifest stays
		// untold (see CheckDone), so that a later telling sends the notice.
		e.Cleanup = errors.Join(err, f.Finish(ctx, m))
		return e
	}
	if err := tb.Finish(ctx, f, m); err != nil {
		e.Cleanup = err
		return e
	}
	e.Told = true
	return e
}

// finisher tells the end of a manifest of the stack as its functions
// do: the final summary under the summary prefix and, when the stack has
// a results topic (its ResultsTopicArn parameter), the notice. When the
// stack's parameters cannot be read, the finisher returned with the error
// writes the final summary alone.
func (c *Client) finisher(ctx context.Context, in ManifestInput) (*results.Finisher, error) {
	in.defaults()
	f := &results.Finisher{S3: c.S3, SNS: c.SNS, SummaryPrefix: in.SummaryPrefix}
	out, err := c.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(in.Stack)})
	if err != nil {
		return f, c.explain(ctx, "stack "+in.Stack, err)
	}
	for _, s := range out.Stacks {
		for _, p := range s.Parameters {
			if aws.ToString(p.ParameterKey) == stack.ParamResultsTopicARN {
				f.TopicARN = aws.ToString(p.ParameterValue)
			}
		}
	}
	return f, nil
}
