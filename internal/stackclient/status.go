package stackclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
)

// ErrStack means the stack, or a queue it must have, was not found.
var ErrStack = errors.New("stack not usable")

// Queues are the logical IDs of the stack's queues, in the order status
// shows them.
var Queues = []string{stack.LogicalImportQueue, stack.LogicalImportDeadLetterQueue, stack.LogicalProviderDeadLetterQueue}

// QueueStatus is one queue's approximate depth.
type QueueStatus struct {
	Name     string `json:"name"` // logical ID
	URL      string `json:"url"`
	Visible  int    `json:"visible"`   // waiting to be received
	InFlight int    `json:"in_flight"` // received, not yet deleted
	Delayed  int    `json:"delayed"`   // sent with a delay not yet over
}

// Total is every message in the queue.
func (q QueueStatus) Total() int { return q.Visible + q.InFlight + q.Delayed }

// DeadLetter reports whether the queue is a dead-letter queue.
func (q QueueStatus) DeadLetter() bool { return q.Name != stack.LogicalImportQueue }

// ManifestSummary is one summary object the provider wrote.
type ManifestSummary struct {
	Key          string        `json:"key"` // the manifest's key
	LastModified time.Time     `json:"last_modified"`
	Summary      stack.Summary `json:"summary"`
	// ReadError is set when the summary object could not be read.
	ReadError string `json:"read_error,omitempty"`
	// Results is the manifest's item in the results table, when the
	// stack has one and it holds the manifest.
	Results *results.Manifest `json:"results,omitempty"`
	// ResultsError is set when the item could not be read.
	ResultsError string `json:"results_error,omitempty"`
}

// State is the state of the results table (reading, queued, importing,
// done or failed; queued shows as importing once a device has an
// outcome) or, without it, the summary's: reading, read (devices
// queued) or failed.
func (m ManifestSummary) State() string {
	if r := m.Results; r != nil {
		if r.State == results.StateQueued && r.Ended() > 0 {
			return string(results.StateImporting)
		}
		return string(r.State)
	}
	switch {
	case m.ReadError != "" || m.Summary.Error != "":
		return "failed"
	case m.Summary.Finished == "":
		return "reading"
	}
	return "read"
}

// Status is what `thingpress status` shows.
type Status struct {
	Stack     string            `json:"stack"`
	Region    string            `json:"region"`
	Bucket    string            `json:"bucket"`
	Queues    []QueueStatus     `json:"queues"`
	Summaries []ManifestSummary `json:"summaries"`
	// SummariesTotal counts every summary under the prefix.
	SummariesTotal int `json:"summaries_total"`
	// ResultsTable is the stack's results table; empty for a stack
	// deployed before it had one.
	ResultsTable string `json:"results_table,omitempty"`
}

// StatusInput says which stack to look at.
type StatusInput struct {
	Stack string
	// Bucket overrides BucketName(Stack).
	Bucket string
	// SummaryPrefix is the stack's summary prefix (default
	// stack.DefaultSummaryPrefix).
	SummaryPrefix string
	// Last is the number of summaries to read, newest first (default 10).
	Last int
	// Manifest, when set, is the one manifest to show (its key).
	Manifest string
}

// stackResources are a stack's resources by logical ID.
type stackResources map[string]cfntypes.StackResource

// resources lists the stack's resources.
func (c *Client) resources(ctx context.Context, stackName string) (stackResources, error) {
	out, err := c.CFN.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(stackName)})
	if err != nil {
		return nil, c.explain(ctx, "stack "+stackName, err)
	}
	res := stackResources{}
	for _, r := range out.StackResources {
		res[aws.ToString(r.LogicalResourceId)] = r
	}
	return res, nil
}

// physical is the physical ID of the resource logical when it is of type
// typ, or "".
func (res stackResources) physical(logical, typ string) string {
	r, ok := res[logical]
	if !ok || aws.ToString(r.ResourceType) != typ {
		return ""
	}
	return aws.ToString(r.PhysicalResourceId)
}

// resultsTable is the name of the results table, or "" for a stack
// deployed before it had one.
func (res stackResources) resultsTable() string {
	return res.physical(stack.LogicalResultsTable, "AWS::DynamoDB::Table")
}

// queues are the URLs of the stack's queues by logical ID.
func (res stackResources) queues(stackName string) (map[string]string, error) {
	urls := map[string]string{}
	var missing []string
	for _, q := range Queues {
		// A queue's physical ID is its URL.
		if u := res.physical(q, "AWS::SQS::Queue"); u != "" {
			urls[q] = u
		} else {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: stack %s has no queue %s: is it a thingpress stack?", ErrStack, stackName, strings.Join(missing, ", "))
	}
	return urls, nil
}

// ResultsTable returns the name of the stack's results table, or "" for
// a stack deployed before it had one.
func (c *Client) ResultsTable(ctx context.Context, stackName string) (string, error) {
	res, err := c.resources(ctx, stackName)
	if err != nil {
		return "", err
	}
	return res.resultsTable(), nil
}

// StackQueues finds the URLs of the stack's queues by logical ID.
func (c *Client) StackQueues(ctx context.Context, stackName string) (map[string]string, error) {
	res, err := c.resources(ctx, stackName)
	if err != nil {
		return nil, err
	}
	return res.queues(stackName)
}

// QueueDepth returns the approximate depth of the queue at url.
func (c *Client) QueueDepth(ctx context.Context, name, url string) (QueueStatus, error) {
	q := QueueStatus{Name: name, URL: url}
	out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return q, c.explain(ctx, "queue "+name, err)
	}
	n := func(a types.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	q.Visible = n(types.QueueAttributeNameApproximateNumberOfMessages)
	q.InFlight = n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	q.Delayed = n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	return q, nil
}

// maxListed bounds the summary objects listed to find the newest.
const maxListed = 100_000

// Summaries reads the last n summaries under prefix, newest first, and
// returns how many there are in all.
func (c *Client) Summaries(ctx context.Context, bucket, prefix string, n int) ([]ManifestSummary, int, error) {
	var all []ManifestSummary
	p := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() && len(all) < maxListed {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, 0, c.explain(ctx, fmt.Sprintf("list s3://%s/%s", bucket, prefix), err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasSuffix(k, ".json") || strings.HasSuffix(k, stack.ResultSuffix) {
				continue
			}
			all = append(all, ManifestSummary{Key: strings.TrimSuffix(strings.TrimPrefix(k, prefix), ".json"), LastModified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortStableFunc(all, func(a, b ManifestSummary) int {
		if c := b.LastModified.Compare(a.LastModified); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	latest := all[:min(n, len(all))]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range latest {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m := &latest[i]
			sum, err := c.Summary(ctx, bucket, prefix, m.Key)
			if err != nil {
				m.ReadError = awsconf.Message(err)
			}
			m.Summary = sum
		})
	}
	wg.Wait()
	return latest, len(all), nil
}

// maxSummaryBytes bounds a summary object read.
const maxSummaryBytes = 1 << 20

// Summary reads the summary the provider wrote of the manifest at
// manifestKey, under the summary prefix.
func (c *Client) Summary(ctx context.Context, bucket, prefix, manifestKey string) (stack.Summary, error) {
	var sum stack.Summary
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(stack.SummaryKey(prefix, manifestKey))})
	if err != nil {
		return sum, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSummaryBytes))
	if err != nil {
		return sum, err
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return stack.Summary{}, fmt.Errorf("not a summary: %w", err)
	}
	return sum, nil
}

// Status reports the stack's queues and its latest manifest summaries.
func (c *Client) Status(ctx context.Context, in StatusInput) (*Status, error) {
	if in.Bucket == "" {
		in.Bucket = BucketName(in.Stack)
	}
	if in.SummaryPrefix == "" {
		in.SummaryPrefix = stack.DefaultSummaryPrefix
	}
	if in.Last <= 0 {
		in.Last = 10
	}
	// One listing of the stack's resources gives the queues and the table.
	res, err := c.resources(ctx, in.Stack)
	if err != nil {
		return nil, err
	}
	urls, err := res.queues(in.Stack)
	if err != nil {
		return nil, err
	}
	st := &Status{Stack: in.Stack, Region: c.Region, Bucket: in.Bucket}
	for _, name := range Queues {
		q, err := c.QueueDepth(ctx, name, urls[name])
		if err != nil {
			return nil, err
		}
		st.Queues = append(st.Queues, q)
	}
	if in.Manifest != "" {
		key := in.Manifest
		if b, k, err := results.SplitURI(key); err == nil {
			st.Bucket, key = b, k
		}
		sum, err := c.Summary(ctx, st.Bucket, in.SummaryPrefix, key)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: no summary of the provider under s3://%s/%s: %w", key, st.Bucket, in.SummaryPrefix, err)
		}
		st.Summaries, st.SummariesTotal = []ManifestSummary{{Key: key, Summary: sum}}, 1
	} else if st.Summaries, st.SummariesTotal, err = c.Summaries(ctx, in.Bucket, in.SummaryPrefix, in.Last); err != nil {
		return nil, err
	}
	if st.ResultsTable = res.resultsTable(); st.ResultsTable == "" {
		return st, nil
	}
	tb := results.New(c.DynamoDB, st.ResultsTable)
	for i := range st.Summaries {
		m := &st.Summaries[i]
		if m.ReadError != "" || m.Summary.ETag == "" {
			continue // not read: the table has no item
		}
		r, err := tb.Get(ctx, results.ID("s3://"+st.Bucket+"/"+m.Key, m.Summary.Version()))
		switch {
		case errors.Is(err, results.ErrNotFound):
		case err != nil:
			m.ResultsError = err.Error()
		default:
			m.Results = &r
		}
	}
	return st, nil
}
