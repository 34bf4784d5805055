package stacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// Options shape a Stack.
type Options struct {
	// Proxy is the fault injection between the importer and IoT.
	Proxy iotproxy.Config
	// MaxReceiveCount is the import queue's redrive setting (default 5).
	MaxReceiveCount int
	// VisibilityTimeout of the import queue in seconds (default 2, so a
	// failed message comes back soon).
	VisibilityTimeout int
	// ResultsTopic makes an SNS topic <name>-done and gives its ARN to
	// the stack as its ResultsTopicArn parameter (default: none).
	ResultsTopic bool
}

// Stack is a thingpress stack in moto.
type Stack struct {
	Name string
	// Bucket is the Infineon upload bucket; Buckets names every vendor's.
	Bucket  string
	Buckets map[stack.Vendor]string
	IoT     *iottest.Env
	Moto    *motoserver.Server
	S3      *s3.Client
	SQS     *sqs.Client
	CFN     *cloudformation.Client
	DDB     *dynamodb.Client
	// Queue URLs.
	ImportQueue, ImportDLQ, ProviderDLQ, Events string
	// Table is the results table's name.
	Table string
	// ResultsTopic is the ARN of the stack's results topic, if any.
	ResultsTopic string

	client *stackclient.Client // what thingpress status reads with
	ddbMu  sync.Mutex          // see serialDDB
}

// template makes the resources of template.yaml that the functions and
// the CLI use, under the same logical IDs. The import queue takes
// messages up to stack.MaxMessageBytes, the limit the stack keeps to
// (moto's default is SQS's newer 1 MiB).
var template = `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ` + stack.ParamResultsTopicARN + `:
    Type: String
    Default: ''
Resources:
` + bucketResources() + `  ` + stack.LogicalImportDeadLetterQueue + `:
    Type: AWS::SQS::Queue
  ` + stack.LogicalImportQueue + `:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: %d
      MaximumMessageSize: %d
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt ` + stack.LogicalImportDeadLetterQueue + `.Arn
        maxReceiveCount: %d
  ` + stack.LogicalProviderDeadLetterQueue + `:
    Type: AWS::SQS::Queue
  ` + stack.LogicalResultsTable + `:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: ` + results.AttrPK + `, AttributeType: S}
        - {AttributeName: ` + results.AttrSK + `, AttributeType: S}
      KeySchema:
        - {AttributeName: ` + results.AttrPK + `, KeyType: HASH}
        - {AttributeName: ` + results.AttrSK + `, KeyType: RANGE}
`

// bucketResources are the upload buckets of every vendor.
func bucketResources() string {
	var b strings.Builder
	for _, bk := range stack.Buckets {
		fmt.Fprintf(&b, "  %s:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${AWS::StackName}%s\"\n", bk.Logical, bk.Suffix)
	}
	return b.String()
}

// New starts moto (through iottest, with its policy, thing type and
// group) and creates the stack name in it.
func New(t testing.TB, name string, o Options) *Stack {
	t.Helper()
	if o.MaxReceiveCount <= 0 {
		o.MaxReceiveCount = 5
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 2
	}
	env := iottest.New(t, o.Proxy)
	c := stackclient.FromConfig(mototest.AWSConfig(t, env.Moto.URL))
	s := &Stack{
		Name:    name,
		Bucket:  stackclient.BucketName(name),
		Buckets: map[stack.Vendor]string{},
		IoT:     env,
		Moto:    env.Moto,
		S3:      c.S3,
		SQS:     c.SQS,
		CFN:     c.CFN,
		DDB:     c.DynamoDB,
		client:  c,
	}
	ctx := t.Context()
	if o.ResultsTopic {
		topic, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name + "-done")})
		if err != nil {
			t.Fatalf("results topic: %v", err)
		}
		s.ResultsTopic = aws.ToString(topic.TopicArn)
	}
	if _, err := s.CFN.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(fmt.Sprintf(template, o.VisibilityTimeout, stack.MaxMessageBytes, o.MaxReceiveCount)),
		Parameters: []cfntypes.Parameter{{
			ParameterKey: aws.String(stack.ParamResultsTopicARN), ParameterValue: aws.String(s.ResultsTopic),
		}},
	}); err != nil {
		t.Fatalf("create stack: %v", err)
	}
	// Found as thingpress status finds them.
	urls, err := c.StackQueues(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	s.ImportQueue = urls[stack.LogicalImportQueue]
	s.ImportDLQ = urls[stack.LogicalImportDeadLetterQueue]
	s.ProviderDLQ = urls[stack.LogicalProviderDeadLetterQueue]
	if s.Table, err = c.ResultsTable(ctx, name); err != nil {
		t.Fatal(err)
	}
	ev, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-s3-events")})
	if err != nil {
		t.Fatal(err)
	}
	s.Events = aws.ToString(ev.QueueUrl)
	arn := s.QueueARN(t, s.Events)
	for _, b := range stack.Buckets {
		bucket := name + b.Suffix
		s.Buckets[b.Vendor] = bucket
		// Versioned as template.yaml's buckets (moto's CloudFormation does
		// not apply VersioningConfiguration).
		if _, err := s.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket: aws.String(bucket), VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("bucket versioning of %s: %v", bucket, err)
		}
		if _, err := s.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(bucket),
			NotificationConfiguration: &s3types.NotificationConfiguration{
				QueueConfigurations: []s3types.QueueConfiguration{{
					QueueArn: aws.String(arn),
					Events:   []s3types.Event{"s3:ObjectCreated:*"},
				}},
			},
		}); err != nil {
			t.Fatalf("bucket notification of %s: %v", bucket, err)
		}
	}
	return s
}

// QueueARN returns the ARN of the queue at url.
func (s *Stack) QueueARN(t testing.TB, url string) string {
	t.Helper()
	out, err := s.SQS.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)]
}

// Env is the environment template.yaml gives the functions, aimed at
// this stack's queue and iottest's policy, type and group.
func (s *Stack) Env() map[string]string {
	env := map[string]string{
		stack.EnvImportQueueURL:  s.ImportQueue,
		stack.EnvPolicyNames:     iottest.Policy,
		stack.EnvThingType:       iottest.ThingType,
		stack.EnvThingGroups:     iottest.Group,
		stack.EnvCertificateType: "E0E0",
		stack.EnvResultsTable:    s.Table,
		stack.EnvSummaryPrefix:   stack.DefaultSummaryPrefix,
	}
	for _, b := range stack.Buckets {
		env[b.Env] = s.Buckets[b.Vendor]
	}
	return env
}

// Results is the stack's results table. Its writes are serialized (see
// serialDDB), so give every function of a test the table of this call.
func (s *Stack) Results() *results.Table {
	return results.New(serialDDB{Client: s.DDB, mu: &s.ddbMu}, s.Table)
}

// serialDDB makes one write at a time to moto. moto cancels a
// transaction by putting back a copy of the whole table taken when the
// transaction began, which drops whatever another request wrote in
// between; DynamoDB cancels only the transaction's own items.
type serialDDB struct {
	*dynamodb.Client
	mu *sync.Mutex
}

func (d serialDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Client.TransactWriteItems(ctx, in, optFns...)
}

func (d serialDDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Client.UpdateItem(ctx, in, optFns...)
}

// Finisher writes final summaries into the stack's bucket, and notifies
// topic when it is not empty.
func (s *Stack) Finisher(topic string) *results.Finisher {
	return &results.Finisher{S3: s.S3, SNS: s.client.SNS, TopicARN: topic}
}

// Client is the client thingpress status and retry use on this stack.
func (s *Stack) Client() *stackclient.Client { return s.client }

// Put uploads the file at path as key into the Infineon bucket.
func (s *Stack) Put(t testing.TB, key, path string) {
	t.Helper()
	s.PutIn(t, s.Bucket, key, path)
}

// PutIn uploads the file at path as key into bucket.
func (s *Stack) PutIn(t testing.TB, bucket, key, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.S3.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
	}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// ObjectCreatedEvent waits for the S3 notification of key in the
// Infineon bucket; see ObjectCreatedEventIn.
func (s *Stack) ObjectCreatedEvent(t testing.TB, key string) (events.S3Event, []byte) {
	t.Helper()
	return s.ObjectCreatedEventIn(t, s.Bucket, key)
}

// ObjectCreatedEventIn waits for the S3 notification of key in bucket on
// the events queue and returns it as the provider receives it, with its
// JSON; the other notifications it receives are dropped. moto writes
// eventTime without a time zone, which Lambda's event type cannot parse;
// it is given AWS's "Z".
func (s *Stack) ObjectCreatedEventIn(t testing.TB, bucket, key string) (events.S3Event, []byte) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(s.Events), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if _, err := s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.Events), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			raw, ev, ok := parseS3Event(t, aws.ToString(m.Body))
			if !ok {
				continue // the s3:TestEvent
			}
			for _, r := range ev.Records {
				if k, err := url.QueryUnescape(r.S3.Object.Key); err == nil && k == key && r.S3.Bucket.Name == bucket {
					return ev, raw
				}
			}
		}
	}
	t.Fatalf("no ObjectCreated event for s3://%s/%s", bucket, key)
	return events.S3Event{}, nil
}

func parseS3Event(t testing.TB, body string) ([]byte, events.S3Event, bool) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("S3 notification %q: %v", body, err)
	}
	recs, _ := doc["Records"].([]any)
	if len(recs) == 0 {
		return nil, events.S3Event{}, false
	}
	for _, r := range recs {
		rec, _ := r.(map[string]any)
		if ts, ok := rec["eventTime"].(string); ok && !strings.HasSuffix(ts, "Z") && !strings.Contains(ts[10:], "+") {
			rec["eventTime"] = ts + "Z"
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("S3 notification as events.S3Event: %v\n%s", err, raw)
	}
	return raw, ev, true
}

// Depth is a queue's approximate message counts, as thingpress status
// reads them.
type Depth = stackclient.QueueStatus

// Depth returns the counts of the queue at url.
func (s *Stack) Depth(t testing.TB, url string) Depth {
	t.Helper()
	d, err := s.depth(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (s *Stack) depth(ctx context.Context, url string) (Depth, error) {
	return s.client.QueueDepth(ctx, url, url)
}

// Summary reads the provider's summary of the manifest at key in the
// Infineon bucket, under the default summary prefix.
func (s *Stack) Summary(t testing.TB, key string) stack.Summary {
	t.Helper()
	return s.SummaryIn(t, s.Bucket, key)
}

// SummaryIn reads the provider's summary of the manifest at key in
// bucket, under the default summary prefix.
func (s *Stack) SummaryIn(t testing.TB, bucket, key string) stack.Summary {
	t.Helper()
	sum, err := s.client.Summary(t.Context(), bucket, stack.DefaultSummaryPrefix, key)
	if err != nil {
		t.Fatalf("summary of s3://%s/%s: %v", bucket, key, err)
	}
	return sum
}

// ImportHandler is the importer function's handler.
type ImportHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// DeliverOptions shape Deliver.
type DeliverOptions struct {
	// Handlers are the concurrent "execution environments"; each polls
	// the queue in turn, as Lambda's event source with
	// MaximumConcurrency len(Handlers) does.
	Handlers []ImportHandler
	// BatchSize is the most messages per invocation (default 10).
	BatchSize int
	// Timeout is each invocation's deadline (default 30s).
	Timeout time.Duration
	// Limit bounds the whole delivery (default 3 minutes).
	Limit time.Duration
}

// DeliverStats count what Deliver did.
type DeliverStats struct {
	Invocations int
	Messages    int            // messages handed to a handler
	Failures    map[string]int // reports in batchItemFailures, by message body
	Deleted     int
}

// Deliver hands the import queue's messages to the handlers in batches
// until the queue is empty (visible, in flight and delayed) or the limit
// is reached: it receives a batch, invokes a handler with the SQS event
// Lambda would build, deletes the messages not reported failed and leaves
// the failed ones to come back after the visibility timeout.
func (s *Stack) Deliver(t testing.TB, o DeliverOptions) DeliverStats {
	t.Helper()
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Limit <= 0 {
		o.Limit = 3 * time.Minute
	}
	arn := s.QueueARN(t, s.ImportQueue)
	stats := DeliverStats{Failures: map[string]int{}}
	var mu sync.Mutex
	var errs []string
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err.Error())
	}
	stop := time.Now().Add(o.Limit)
	var wg sync.WaitGroup
	for _, handle := range o.Handlers {
		wg.Go(func() {
			ctx := t.Context()
			for time.Now().Before(stop) {
				out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(s.ImportQueue), MaxNumberOfMessages: int32(o.BatchSize), WaitTimeSeconds: 1,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
				})
				if err != nil {
					fail(err)
					return
				}
				if len(out.Messages) == 0 {
					d, err := s.depth(ctx, s.ImportQueue)
					if err != nil {
						fail(err)
						return
					}
					if d.Total() == 0 {
						return
					}
					continue
				}
				ev := events.SQSEvent{}
				byID := map[string]types.Message{}
				for _, m := range out.Messages {
					byID[aws.ToString(m.MessageId)] = m
					ev.Records = append(ev.Records, events.SQSMessage{
						MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
						EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: motoserver.Region,
					})
				}
				ictx, cancel := context.WithTimeout(ctx, o.Timeout)
				resp, err := handle(ictx, ev)
				cancel()
				failed := map[string]bool{}
				if err != nil {
					// A handler error fails the whole batch.
					for id := range byID {
						failed[id] = true
					}
				}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				mu.Lock()
				stats.Invocations++
				stats.Messages += len(out.Messages)
				for id := range failed {
					stats.Failures[aws.ToString(byID[id].Body)]++
				}
				mu.Unlock()
				for id, m := range byID {
					if failed[id] {
						continue
					}
					if _, err := s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.ImportQueue), ReceiptHandle: m.ReceiptHandle}); err != nil {
						fail(err)
						return
					}
					mu.Lock()
					stats.Deleted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("delivery: %s", strings.Join(errs, "; "))
	}
	if d := s.Depth(t, s.ImportQueue); d.Total() != 0 {
		t.Fatalf("the import queue still holds %+v after %s", d, o.Limit)
	}
	return stats
}

// Receive takes every message from the queue at url (receives and
// deletes it) and returns their bodies.
func (s *Stack) Receive(t testing.TB, url string) []string {
	t.Helper()
	ctx := t.Context()
	var bodies []string
	for {
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Metrics collects the EMF lines a function writes, for assertions.
type Metrics struct {
	mu    sync.Mutex
	lines []map[string]any
	buf   []byte
}

// Write takes EMF output; every complete line must be a JSON object.
func (m *Metrics) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	for {
		i := strings.IndexByte(string(m.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		var doc map[string]any
		if err := json.Unmarshal(m.buf[:i], &doc); err != nil {
			return 0, fmt.Errorf("EMF line %q: %w", m.buf[:i], err)
		}
		m.lines = append(m.lines, doc)
		m.buf = m.buf[i+1:]
	}
}

// Sum adds up a metric over every line, optionally only the lines of
// one manifest (dimension value); "" means all.
func (m *Metrics) Sum(name, manifest string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var total float64
	for _, l := range m.lines {
		if manifest != "" && l[stack.MetricDimensionManifest] != manifest {
			continue
		}
		if v, ok := l[name].(float64); ok {
			total += v
		}
	}
	return total
}

// Lines returns how many EMF lines were written.
func (m *Metrics) Lines() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}
