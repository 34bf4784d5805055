package provider_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

// TestTellEndWhenRead: a manifest without a valid device is done when
// read; when telling its end fails, the event fails (Lambda tries it
// again), and the retried event, which does not read the manifest again,
// tells it, once.
func TestTellEndWhenRead(t *testing.T) {
	f := newFixture(t, 1)
	ctx := t.Context()
	c := f.s.Client()
	const name = "tp-provider-done"
	// The topic's ARN, then no topic behind it.
	tp, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(tp.TopicArn)
	if _, err := c.SNS.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: tp.TopicArn}); err != nil {
		t.Fatal(err)
	}
	// Infineon's CAs, which signed none of the devices: none is valid.
	infineon, err := trust.Infineon()
	if err != nil {
		t.Fatal(err)
	}
	tb := f.s.Results()
	h := f.handler(t, &stacktest.Metrics{}, func(cfg *provider.Config) {
		cfg.Results, cfg.Finish, cfg.Trust = tb, f.s.Finisher(arn), infineon
	})
	obj := provider.Object{Bucket: f.s.Bucket, Key: xmlKey}

	sum, err := h.Process(ctx, obj)
	if !errors.Is(err, provider.ErrNotTold) || sum.Valid != 0 || sum.Error != "" {
		t.Fatalf("Process: %+v %v, want no valid device and ErrNotTold", sum, err)
	}
	id := results.ID("s3://"+f.s.Bucket+"/"+xmlKey, sum.Version())
	m, err := tb.Get(ctx, id)
	if err != nil || m.State != results.StateDone || m.Notified != "" {
		t.Fatalf("manifest %+v %v, want done, not told", m, err)
	}
	if stored := f.s.Summary(t, xmlKey); stored.Error != "" || stored.Finished == "" {
		t.Errorf("the provider's summary %+v, want it read without error", stored)
	}

	if _, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	q, err := f.s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-notices")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(arn), Protocol: aws.String("sqs"), Endpoint: aws.String(f.s.QueueARN(t, aws.ToString(q.QueueUrl))),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := h.Process(ctx, obj); err != nil {
			t.Fatalf("Process %d of the event tried again: %v", i+2, err)
		}
		if n := f.s.Receive(t, aws.ToString(q.QueueUrl)); len(n) != 1-i {
			t.Fatalf("Process %d of the event: %d notices, want %d", i+2, len(n), 1-i)
		}
	}
	if m, err = tb.Get(ctx, id); err != nil || m.State != results.StateDone || m.Notified == "" {
		t.Fatalf("manifest %+v %v, want done and told", m, err)
	}
	if _, err := f.s.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.s.Bucket), Key: aws.String(stack.ResultKey(stack.DefaultSummaryPrefix, xmlKey)),
	}); err != nil {
		t.Errorf("final summary: %v", err)
	}
	if msgs := f.messages(t); len(msgs) != 0 {
		t.Errorf("%d messages queued", len(msgs))
	}
}
