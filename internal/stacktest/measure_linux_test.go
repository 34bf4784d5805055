//go:build linux

package stacktest_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/motoserver/mototest"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

// TestMeasureProvider measures the provider on a big bundle, such as the
// 1,000,000-device one that tools/genmanifest writes:
//
//	go run ./tools/genmanifest -n 1000000 -bad -o /tmp/reel-1m.7z
//	THINGPRESS_MEASURE_MANIFEST=/tmp/reel-1m.7z go test -run TestMeasureProvider -v -timeout 60m ./internal/stacktest/
//
// The bundle (and its CA, FILE.ca.pem) is uploaded to moto's S3 and the
// provider handler runs on its ObjectCreated event against moto's S3 and
// SQS. With THINGPRESS_MEASURE_SINK=1 the messages go to a local HTTP
// endpoint that answers SendMessageBatch as SQS does instead of to moto:
// that measures the read, validate and batch path alone, and is the only
// way to measure a million devices here. Moto's SendMessage reads every
// attribute of the queue, ApproximateNumberOfMessages included, which
// walks every message the queue holds (cProfile: Queue.attributes ->
// approximate_number_of_messages -> unix_time_millis per message), so
// each message sent costs time in proportion to the queue's length and
// filling a queue is quadratic: 100,000 devices (4,000 messages) take
// about 140 s, a million would take hours. Receiving walks the queue
// too, so draining it alongside does not help. SQS's cost does not
// depend on a queue's length. The test prints the time, the
// messages sent and the process's peak resident memory (the test process
// is the provider: moto runs in its own).
func TestMeasureProvider(t *testing.T) {
	path := os.Getenv("THINGPRESS_MEASURE_MANIFEST")
	if path == "" {
		t.Skip("set THINGPRESS_MEASURE_MANIFEST to a bundle to measure")
	}
	caPEM, err := os.ReadFile(path + ".ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := trust.FromPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := stacktest.New(t, "tp-measure", stacktest.Options{})
	const key = "reels/measured reel.7z"
	upload := time.Now()
	s.Put(t, key, path)
	t.Logf("uploaded %s to moto in %s", path, time.Since(upload).Round(time.Millisecond))
	ev, _ := s.ObjectCreatedEvent(t, key)

	var sqsAPI provider.SQSAPI = s.SQS
	var sink *sqsSink
	if os.Getenv("THINGPRESS_MEASURE_SINK") == "1" {
		sink = &sqsSink{}
		srv := httptest.NewServer(sink)
		defer srv.Close()
		sqsAPI = sqs.NewFromConfig(mototest.AWSConfig(t, srv.URL))
	}
	var metrics stacktest.Metrics
	h, err := provider.New(provider.Config{
		S3: s.S3, SQS: sqsAPI, IoT: s.IoT.Direct, QueueURL: s.ImportQueue, Target: target,
		Trust: anchors, Metrics: emf.New(&metrics, stack.DefaultMetricsNamespace), Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := peakRSS(t)
	start := time.Now()
	if err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	sum := summary(t, s, key)
	if sum.Error != "" {
		t.Fatalf("summary: %+v", sum)
	}
	where := "moto's SQS"
	if sink != nil {
		where = fmt.Sprintf("a local SQS sink (%d batches, %d MiB)", sink.batches.Load(), sink.bytes.Load()>>20)
	} else if d := s.Depth(t, s.ImportQueue); d.Visible != sum.Messages {
		t.Errorf("queue holds %d messages, summary says %d sent", d.Visible, sum.Messages)
	}
	t.Logf("provider: %d devices (%d valid, %d invalid) -> %d messages to %s in %s (%.0f devices/s) on %d CPUs; peak RSS %d MiB (%d MiB before the handler ran)",
		sum.Devices, sum.Valid, sum.Invalid, sum.Messages, where, elapsed.Round(time.Millisecond),
		float64(sum.Devices)/elapsed.Seconds(), runtime.GOMAXPROCS(0), peakRSS(t)>>10, before>>10)
}

// peakRSS is the process's peak resident set size in KiB.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Maxrss
}

// sqsSink answers SendMessageBatch (SQS's JSON protocol) with success
// for every entry, as SQS does, and counts what it got.
type sqsSink struct {
	batches, messages, bytes atomic.Int64
}

func (k *sqsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		http.Error(w, "only SendMessageBatch", http.StatusBadRequest)
		return
	}
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	var out struct {
		Successful []ok
		Failed     []struct{}
	}
	for i, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: fmt.Sprintf("m-%d-%d", k.batches.Load(), i), MD5OfMessageBody: hex.EncodeToString(sum[:])})
		k.bytes.Add(int64(len(e.MessageBody)))
	}
	k.batches.Add(1)
	k.messages.Add(int64(len(in.Entries)))
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}
