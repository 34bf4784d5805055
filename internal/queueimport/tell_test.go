package queueimport_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/queueimport"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// topic is an SNS topic in moto whose notices arrive on a queue.
type topic struct {
	s     *stacktest.Stack
	name  string
	arn   string
	queue string
}

// newTopic makes the topic name and its queue; absent, the topic is
// deleted again, so that publishing to its ARN fails until create.
func newTopic(t *testing.T, s *stacktest.Stack, name string, absent bool) *topic {
	t.Helper()
	q, err := s.SQS.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name + "-notices")})
	if err != nil {
		t.Fatal(err)
	}
	tp := &topic{s: s, name: name, queue: aws.ToString(q.QueueUrl)}
	tp.create(t)
	if absent {
		if _, err := s.Client().SNS.DeleteTopic(t.Context(), &sns.DeleteTopicInput{TopicArn: aws.String(tp.arn)}); err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

// create makes the topic (again, under the same ARN) and subscribes the
// queue.
func (tp *topic) create(t *testing.T) {
	t.Helper()
	c := tp.s.Client()
	out, err := c.SNS.CreateTopic(t.Context(), &sns.CreateTopicInput{Name: aws.String(tp.name)})
	if err != nil {
		t.Fatal(err)
	}
	if tp.arn != "" && aws.ToString(out.TopicArn) != tp.arn {
		t.Fatalf("topic made again as %s, was %s", aws.ToString(out.TopicArn), tp.arn)
	}
	tp.arn = aws.ToString(out.TopicArn)
	if _, err := c.SNS.Subscribe(t.Context(), &sns.SubscribeInput{
		TopicArn: out.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(tp.s.QueueARN(t, tp.queue)),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
}

// notices takes the notices that arrived.
func (tp *topic) notices(t *testing.T) []string { t.Helper(); return tp.s.Receive(t, tp.queue) }

// delivery is the event of one delivery of one message, with the receive
// count SQS gives it (0: no attribute, as in a hand-made event), and of
// more copies of it under other message IDs.
func delivery(t *testing.T, m stack.Message, receiveCount int, copies ...string) events.SQSEvent {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	for _, id := range append([]string{"last"}, copies...) {
		rec := events.SQSMessage{MessageId: id, Body: string(b), EventSource: "aws:sqs"}
		if receiveCount > 0 {
			rec.Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(receiveCount)}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

// finalSummary reads the final summary of key, and false when there is
// none.
func finalSummary(t *testing.T, s *stacktest.Stack, key string) (results.Final, bool) {
	t.Helper()
	out, err := s.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(stack.ResultKey(stack.DefaultSummaryPrefix, key))})
	if err != nil {
		return results.Final{}, false
	}
	defer out.Body.Close()
	var f results.Final
	if err := json.NewDecoder(out.Body).Decode(&f); err != nil {
		t.Fatalf("final summary of %s: %v", key, err)
	}
	return f, true
}

// countGets passes the results table's calls on, counting GetItem.
type countGets struct {
	results.API
	n atomic.Int64
}

func (c *countGets) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.n.Add(1)
	return c.API.GetItem(ctx, in, optFns...)
}

// TestTellEnd: the message that completes a manifest tells its end (final
// summary and notice) once; when telling fails the message is reported
// failed, and its next delivery, which adds no count, tells it; later
// deliveries tell nothing more.
func TestTellEnd(t *testing.T) {
	s := stacktest.New(t, "tp-qi-tell", stacktest.Options{})
	tb := s.Results()
	type counts struct{ valid, imported, exists, failed, requeued int }
	tests := []struct {
		name string
		// failFirst: the topic is missing at the first delivery.
		failFirst bool
		// receiveCount of the second delivery (0: none, so that its
		// devices are imported again).
		receiveCount int
		// copies are more messages of the manifest in the second
		// delivery's batch, as when a whole batch comes again.
		copies []string
	}{
		{name: "told at once", receiveCount: 2},
		{name: "told at the redelivery", failFirst: true, receiveCount: 2},
		{name: "told at a redelivery that imports again", failFirst: true},
		{name: "told once by a batch delivered again", failFirst: true, receiveCount: 2, copies: []string{"other", "third"}},
	}
	var all []stack.QueuedDevice
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			key := "reels/tell-" + strconv.Itoa(i) + ".7z"
			uri := "s3://" + s.Bucket + "/" + key
			id := results.ID(uri, "e1")
			devs := devices(t, 3)
			all = append(all, devs...)
			msg := stack.Message{Manifest: uri, ManifestETag: "e1", Devices: devs}
			if _, err := tb.Reading(ctx, id, uri, "e1"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tb.Queued(ctx, id, len(devs)); err != nil {
				t.Fatal(err)
			}
			tp := newTopic(t, s, "tp-qi-tell-"+strconv.Itoa(i), tc.failFirst)
			gets := &countGets{API: tb.API}
			h := newHandler(t, s, &stacktest.Metrics{}, func(c *queueimport.Config) {
				c.Results, c.Finish = &results.Table{API: gets, Name: tb.Name, Now: tb.Now}, s.Finisher(tp.arn)
			})
			want := counts{valid: 3, imported: 3}
			table := func() results.Manifest {
				t.Helper()
				m, err := tb.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if got := (counts{m.Valid, m.Imported, m.Exists, m.Failed, m.Requeued}); m.State != results.StateDone || got != want {
					t.Fatalf("manifest %s %+v, want done %+v", m.State, got, want)
				}
				return m
			}

			resp, err := h.Handle(ctx, delivery(t, msg, 1))
			if err != nil {
				t.Fatal(err)
			}
			m := table()
			if tc.failFirst {
				if got := failures(resp); len(got) != 1 || got[0] != "last" {
					t.Fatalf("batchItemFailures %q, want the message whose end was not told", got)
				}
				if m.Notified != "" {
					t.Fatalf("notified %q although the notice failed", m.Notified)
				}
				if n := tp.notices(t); len(n) != 0 {
					t.Fatalf("notices %q from a missing topic", n)
				}
				tp.create(t)
				calls, read := s.IoT.Proxy.Total().Calls, gets.n.Load()
				resp, err = h.Handle(ctx, delivery(t, msg, tc.receiveCount, tc.copies...))
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("redelivery: %v %v, want no failure", resp, err)
				}
				if read := gets.n.Load() - read; tc.receiveCount > 1 && read != 1 {
					t.Errorf("redelivery of %d messages of a done manifest read its item %d times, want once", 1+len(tc.copies), read)
				}
				if made := s.IoT.Proxy.Total().Calls - calls; tc.receiveCount > 1 && made != 0 {
					t.Errorf("redelivery of a done manifest made %d IoT calls, want none", made)
				} else if tc.receiveCount == 0 && made == 0 {
					t.Error("a redelivery without a receive count made no IoT call: not the path this case is for")
				}
				m = table()
			} else if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batchItemFailures %q", failures(resp))
			}
			if m.Notified == "" {
				t.Fatal("notified not set once the end was told")
			}
			f, ok := finalSummary(t, s, key)
			if !ok || f.State != results.StateDone || f.Imported != 3 || f.Finished != m.Finished {
				t.Fatalf("final summary %+v (there: %v), want the table's %+v", f, ok, m)
			}
			if n := tp.notices(t); len(n) != 1 {
				t.Fatalf("%d notices, want 1: %q", len(n), n)
			}

			// Told, later deliveries tell nothing more, counted or not.
			for _, rc := range []int{3, 0} {
				resp, err = h.Handle(ctx, delivery(t, msg, rc))
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("delivery with receive count %d: %v %v", rc, resp, err)
				}
				if again := table(); again.Notified != m.Notified {
					t.Errorf("notified %q, was %q", again.Notified, m.Notified)
				}
			}
			if n := tp.notices(t); len(n) != 0 {
				t.Errorf("notices after the end was told: %q", n)
			}
		})
	}
	s.IoT.AssertComplete(t, expected(all))
}
