//go:build linux

package stacktest_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/provider"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
	"github.com/thingpress/thingpress/internal/trust"
)

// BenchmarkProvider measures the provider on a bundle: by default one of
// 10,000 devices that it generates, else the bundle (and its CA, ca.pem
// in the same directory) that THINGPRESS_MEASURE_MANIFEST names, such as
// the 1,000,000-device one that thingpress generate writes:
//
//	thingpress generate --vendor infineon --devices 1000010 --invalid 10 --slots E0E0 --out /tmp/b1m
//	THINGPRESS_MEASURE_MANIFEST=/tmp/b1m/reel.7z THINGPRESS_MEASURE_SINK=1 \
//	  go test -run '^$' -bench BenchmarkProvider -benchtime 1x -timeout 60m ./internal/stacktest/
//
// The bundle is uploaded to moto's S3 and the provider handler runs on its
// ObjectCreated event against moto's S3 and SQS. With
// THINGPRESS_MEASURE_SINK=1 the messages go to a local HTTP endpoint that
// answers SendMessageBatch as SQS does instead of to moto: that measures
// the read, validate and batch path alone, and is the only way to measure
// a million devices here. Moto's SendMessage reads every attribute of the
// queue, ApproximateNumberOfMessages included, which walks every message
// the queue holds (cProfile: Queue.attributes ->
// approximate_number_of_messages -> unix_time_millis per message), so
// each message sent costs time in proportion to the queue's length and
// filling a queue is quadratic: 100,000 devices (4,000 messages) take
// about 150 s, a million would take hours. Receiving walks the queue
// too, so draining it alongside does not help. SQS's cost does not
// depend on a queue's length.
//
// It reports devices/s, the messages sent and the process's peak resident
// memory (the benchmark process is the provider: moto runs in its own).
// Each iteration uploads the bundle under a new key.
func BenchmarkProvider(b *testing.B) {
	path := os.Getenv("THINGPRESS_MEASURE_MANIFEST")
	if path == "" {
		path = filepath.Join(b.TempDir(), "reel.7z")
		res, err := generate.Write(path, generate.Options{N: 10_000, Slots: []string{"E0E0"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), "ca.pem"), res.PKI.PEM(), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(filepath.Dir(path), "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	anchors, err := trust.FromPEM(caPEM)
	if err != nil {
		b.Fatal(err)
	}
	s := stacktest.New(b, "tp-measure", stacktest.Options{})
	var sqsAPI provider.SQSAPI = s.SQS
	var sink *sqsSink
	if os.Getenv("THINGPRESS_MEASURE_SINK") == "1" {
		sink = &sqsSink{}
		srv := httptest.NewServer(sink)
		defer srv.Close()
		sqsAPI = sqs.NewFromConfig(mototest.AWSConfig(b, srv.URL))
	}
	var metrics stacktest.Metrics
	h, err := provider.New(provider.Config{
		S3: s.S3, SQS: sqsAPI, IoT: s.IoT.Direct, QueueURL: s.ImportQueue, Target: target,
		Trust: anchors, Metrics: emf.New(&metrics, stack.DefaultMetricsNamespace), Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	var devices, messages int
	var elapsed time.Duration
	before := peakRSS(b)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		key := fmt.Sprintf("reels/measured reel %d.7z", i)
		s.Put(b, key, path)
		ev, _ := s.ObjectCreatedEvent(b, key)
		runtime.GC()
		queued := s.Depth(b, s.ImportQueue).Visible
		b.StartTimer()
		start := time.Now()
		if err := h.Handle(b.Context(), ev); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		sum := s.Summary(b, key)
		if sum.Error != "" || sum.Valid == 0 {
			b.Fatalf("summary: %+v", sum)
		}
		if sink == nil {
			if d := s.Depth(b, s.ImportQueue); d.Visible-queued != sum.Messages {
				b.Errorf("queue got %d messages, summary says %d sent", d.Visible-queued, sum.Messages)
			}
		}
		devices += sum.Total
		messages += sum.Messages
	}
	b.ReportMetric(float64(devices)/elapsed.Seconds(), "devices/s")
	b.ReportMetric(float64(messages)/float64(b.N), "messages/op")
	b.ReportMetric(float64(peakRSS(b))/1024, "peak-RSS-MiB")
	where := "moto's SQS"
	if sink != nil {
		where = fmt.Sprintf("a local SQS sink (%d batches, %d MiB)", sink.batches.Load(), sink.bytes.Load()>>20)
	}
	b.Logf("provider: %d devices -> %d messages to %s in %s on %d CPUs; peak RSS %d MiB (%d MiB before the handler ran)",
		devices, messages, where, elapsed.Round(time.Millisecond), runtime.GOMAXPROCS(0), peakRSS(b)>>10, before>>10)
}

// peakRSS is the process's peak resident set size in KiB.
func peakRSS(t testing.TB) int64 {
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
		Entries []struct {
			ID          string `json:"Id"`
			MessageBody string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type ok struct {
		ID               string `json:"Id"`
		MessageID        string `json:"MessageId"`
		MD5OfMessageBody string
	}
	var out struct {
		Successful []ok
		Failed     []struct{}
	}
	for i, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, ok{ID: e.ID, MessageID: fmt.Sprintf("m-%d-%d", k.batches.Load(), i), MD5OfMessageBody: hex.EncodeToString(sum[:])})
		k.bytes.Add(int64(len(e.MessageBody)))
	}
	k.batches.Add(1)
	k.messages.Add(int64(len(in.Entries)))
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out) // a failed write fails the client's call
}
