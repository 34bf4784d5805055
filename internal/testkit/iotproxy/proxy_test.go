package iotproxy

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backend is a stand-in for the IoT service that answers 200 {} and
// counts the requests that reach it.
type backend struct {
	hits atomic.Int64
	url  *url.URL
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	b.url, _ = url.Parse(srv.URL)
	return b
}

// startProxy runs a proxy in front of b and returns it with its URL.
func startProxy(t *testing.T, b *backend, cfg Config) (*Proxy, string) {
	t.Helper()
	p := New(b.url, cfg)
	u, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, u
}

// fakeClock is a settable clock for the token buckets.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type result struct {
	status  int
	errType string
	body    string
	err     error
}

// send makes one request on a fresh connection (so that net/http does not
// silently retry a dropped one).
func send(t *testing.T, client *http.Client, method, u string) result {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	return do(client, req)
}

// do makes the request req; it may run in any goroutine.
func do(client *http.Client, req *http.Request) result {
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, errType: resp.Header.Get("X-Amzn-ErrorType"), body: string(body)}
}

func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// checkAWSError checks that r has the shape of a restJson1 error of AWS.
func checkAWSError(t *testing.T, r result, status int, errType, message string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("transport error %v, want HTTP %d", r.err, status)
	}
	if r.status != status || r.errType != errType {
		t.Errorf("got HTTP %d %q, want %d %q", r.status, r.errType, status, errType)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body) != 1 || body["message"] != message {
		t.Errorf("body %q, want {\"message\":%q}", r.body, message)
	}
}

func TestQuota(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		burst int // requests sent at one instant
		want  int // forwarded of those
		after time.Duration
		more  int // forwarded of another burst sent after that pause
	}{
		{name: "AWS default 10 TPS", rate: 10, burst: 25, want: 10, after: 500 * time.Millisecond, more: 5},
		{name: "fractional rate rounds the burst up", rate: 2.5, burst: 10, want: 3, after: 2 * time.Second, more: 3},
		{name: "slow rate has a burst of one", rate: 0.5, burst: 5, want: 1, after: time.Second, more: 0},
		{name: "slow rate refills in time", rate: 0.5, burst: 5, want: 1, after: 2 * time.Second, more: 1},
		{name: "zero rate throttles everything", rate: 0, burst: 5, want: 0, after: time.Hour, more: 0},
		{name: "long pause refills only to the burst", rate: 15, burst: 20, want: 15, after: time.Minute, more: 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			p, u := startProxy(t, b, Config{Quotas: map[string]float64{"RegisterCertificateWithoutCA": tt.rate}})
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			p.setClock(clock.now)
			client := freshClient()

			burst := func(n int) (forwarded int) {
				t.Helper()
				for range n {
					r := send(t, client, "POST", u+"/certificate/register-no-ca")
					if r.status == http.StatusOK {
						forwarded++
						continue
					}
					checkAWSError(t, r, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
				}
				return forwarded
			}
			if got := burst(tt.burst); got != tt.want {
				t.Errorf("first burst: %d forwarded, want %d", got, tt.want)
			}
			clock.advance(tt.after)
			if got := burst(tt.burst); got != tt.more {
				t.Errorf("after %v: %d forwarded, want %d", tt.after, got, tt.more)
			}

			// Another operation has no quota and is not affected.
			if r := send(t, client, "GET", u+"/things/t1"); r.status != http.StatusOK {
				t.Errorf("DescribeThing: %+v", r)
			}
			s := p.Stats()["RegisterCertificateWithoutCA"]
			wantStats := OpStats{Calls: int64(2 * tt.burst), Forwarded: int64(tt.want + tt.more), Throttled: int64(2*tt.burst - tt.want - tt.more)}
			if s != wantStats {
				t.Errorf("stats %+v, want %+v", s, wantStats)
			}
			if got := b.hits.Load(); got != int64(tt.want+tt.more+1) {
				t.Errorf("backend saw %d requests, want %d (throttled ones must not be forwarded)", got, tt.want+tt.more+1)
			}
		})
	}
}

// TestQuotaConcurrentBurst fires a burst at once on the real clock.
func TestQuotaConcurrentBurst(t *testing.T) {
	b := newBackend(t)
	p, u := startProxy(t, b, Config{Quotas: DefaultQuotas()})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const n = 60
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Go(func() { results[i] = send(t, client, "POST", u+"/certificate/register-no-ca") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var ok, throttled int
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusBadRequest && r.errType == "ThrottlingException":
			throttled++
		default:
			t.Errorf("unexpected result %+v", r)
		}
	}
	// 10 from the full bucket, plus what refills while the burst runs.
	if most := 10 + int(math.Ceil(elapsed.Seconds()*10)); ok < 10 || ok > most {
		t.Errorf("%d of %d forwarded in %v at a quota of 10 TPS, want 10 to %d", ok, n, elapsed, most)
	}
	s := p.Stats()["RegisterCertificateWithoutCA"]
	if s.Calls != n || s.Forwarded != int64(ok) || s.Throttled != int64(throttled) || b.hits.Load() != int64(ok) {
		t.Errorf("stats %+v, backend %d; client saw %d ok %d throttled", s, b.hits.Load(), ok, throttled)
	}
}

// TestDefaultQuotas checks that every operation of the quota table (the
// figures are ratelimit's) has a route.
func TestDefaultQuotas(t *testing.T) {
	q := DefaultQuotas()
	if len(q) == 0 {
		t.Fatal("no quotas")
	}
	known := map[string]bool{}
	for _, op := range Operations() {
		known[op] = true
	}
	for op := range q {
		if !known[op] {
			t.Errorf("%s has a quota but no route", op)
		}
	}
	q["CreateThing"] = 1
	if DefaultQuotas()["CreateThing"] != 100 {
		t.Error("DefaultQuotas shares its map")
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		path      string
		n         int
		wantFault float64
	}{
		{name: "none", cfg: Config{}, path: "/things/t1", n: 200, wantFault: 0},
		{name: "thirty percent", cfg: Config{FaultRate: 0.3, Seed: 1}, path: "/things/t1", n: 2000, wantFault: 0.3},
		{name: "all", cfg: Config{FaultRate: 1, Seed: 2}, path: "/things/t1", n: 200, wantFault: 1},
		{name: "only for listed operations: listed", cfg: Config{FaultRate: 1, FaultOps: []string{"CreateThing"}}, path: "/things/t1", n: 100, wantFault: 1},
		{name: "only for listed operations: other", cfg: Config{FaultRate: 1, FaultOps: []string{"AttachPolicy"}}, path: "/things/t1", n: 100, wantFault: 0},
		{name: "never for non-IoT requests", cfg: Config{FaultRate: 1}, path: "/moto-api/reset", n: 100, wantFault: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			p, u := startProxy(t, b, tt.cfg)
			client := &http.Client{}
			byStatus := map[int]int{}
			for range tt.n {
				r := send(t, client, "POST", u+tt.path)
				byStatus[r.status]++
				switch r.status {
				case http.StatusInternalServerError:
					checkAWSError(t, r, 500, "InternalFailureException", "Internal failure")
				case http.StatusServiceUnavailable:
					checkAWSError(t, r, 503, "ServiceUnavailableException", "Service Unavailable")
				case http.StatusOK:
				default:
					t.Fatalf("unexpected %+v", r)
				}
			}
			faults := byStatus[500] + byStatus[503]
			if got := float64(faults) / float64(tt.n); math.Abs(got-tt.wantFault) > 0.04 {
				t.Errorf("fault ratio %.3f, want %.2f (%v)", got, tt.wantFault, byStatus)
			}
			if faults >= 100 && (byStatus[500] < faults/3 || byStatus[503] < faults/3) {
				t.Errorf("500 and 503 should be about even: %v", byStatus)
			}
			op := Operation(httptest.NewRequest("POST", tt.path, nil))
			s := p.Stats()[op]
			if s.Calls != int64(tt.n) || s.Faults != int64(faults) || s.Forwarded != int64(tt.n-faults) || b.hits.Load() != s.Forwarded {
				t.Errorf("stats %+v, backend %d, faults seen %d", s, b.hits.Load(), faults)
			}
		})
	}
}

func TestDrops(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		n             int
		wantDrop      float64
		wantAfterFrac float64 // of the drops
	}{
		{name: "all before forwarding", cfg: Config{DropRate: 1}, n: 50, wantDrop: 1, wantAfterFrac: 0},
		{name: "all after forwarding", cfg: Config{DropRate: 1, DropAfterForward: 1}, n: 50, wantDrop: 1, wantAfterFrac: 1},
		{name: "a fifth, half of them after", cfg: Config{DropRate: 0.2, DropAfterForward: 0.5, Seed: 3}, n: 1000, wantDrop: 0.2, wantAfterFrac: 0.5},
		{name: "faults and drops together", cfg: Config{FaultRate: 0.1, DropRate: 0.1, Seed: 4}, n: 1000, wantDrop: 0.1, wantAfterFrac: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			p, u := startProxy(t, b, tt.cfg)
			client := freshClient()
			var connErrs, faults int
			for range tt.n {
				r := send(t, client, "PUT", u+"/target-policies/p")
				switch {
				case r.err != nil:
					connErrs++
				case r.status >= 500:
					faults++
				case r.status != http.StatusOK:
					t.Fatalf("unexpected %+v", r)
				}
			}
			s := p.Stats()["AttachPolicy"]
			if int64(connErrs) != s.Dropped {
				t.Errorf("client saw %d connection errors, proxy dropped %d", connErrs, s.Dropped)
			}
			if got := float64(connErrs) / float64(tt.n); math.Abs(got-tt.wantDrop) > 0.04 {
				t.Errorf("drop ratio %.3f, want %.2f", got, tt.wantDrop)
			}
			if s.Dropped > 0 {
				if got := float64(s.DroppedAfterForward) / float64(s.Dropped); math.Abs(got-tt.wantAfterFrac) > 0.15 {
					t.Errorf("after-forward fraction %.2f, want %.2f", got, tt.wantAfterFrac)
				}
			}
			wantFwd := int64(tt.n-connErrs-faults) + s.DroppedAfterForward
			if s.Forwarded != wantFwd || b.hits.Load() != wantFwd || s.Faults != int64(faults) || s.Calls != int64(tt.n) {
				t.Errorf("stats %+v, backend %d, want forwarded %d", s, b.hits.Load(), wantFwd)
			}
		})
	}
}

// TestDropsNeedNoHijacker checks the fallback when the proxy is mounted in
// a server whose ResponseWriter cannot be hijacked.
func TestDropsNeedNoHijacker(t *testing.T) {
	b := newBackend(t)
	p := New(b.url, Config{DropRate: 1})
	srv := httptest.NewUnstartedServer(p)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	resp, err := client.Post(srv.URL+"/things/t1", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d (proto %s), want a transport error", resp.StatusCode, resp.Proto)
	}
	if s := p.Stats()["CreateThing"]; s.Dropped == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		path     string
		min, max time.Duration
	}{
		{name: "fixed", cfg: Config{Latency: 80 * time.Millisecond}, path: "/things/t1", min: 80 * time.Millisecond, max: 5 * time.Second},
		{name: "with jitter", cfg: Config{Latency: 20 * time.Millisecond, Jitter: 40 * time.Millisecond}, path: "/things/t1", min: 20 * time.Millisecond, max: 5 * time.Second},
		{name: "not for non-IoT", cfg: Config{Latency: 10 * time.Second}, path: "/moto-api/reset", min: 0, max: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			_, u := startProxy(t, b, tt.cfg)
			client := &http.Client{}
			send(t, client, "GET", u+tt.path) // warm the connection
			start := time.Now()
			r := send(t, client, "GET", u+tt.path)
			d := time.Since(start)
			if r.status != http.StatusOK {
				t.Fatalf("%+v", r)
			}
			if d < tt.min || d > tt.max {
				t.Errorf("took %v, want between %v and %v", d, tt.min, tt.max)
			}
		})
	}
}

// TestSeedIsReproducible checks that a seed fixes the sequence of outcomes.
func TestSeedIsReproducible(t *testing.T) {
	run := func(seed int64) string {
		t.Helper()
		b := newBackend(t)
		_, u := startProxy(t, b, Config{FaultRate: 0.3, DropRate: 0.2, DropAfterForward: 0.5, Seed: seed})
		client := freshClient()
		var sb strings.Builder
		for range 100 {
			r := send(t, client, "GET", u+"/certificates/abc")
			switch {
			case r.err != nil:
				sb.WriteByte('x')
			case r.status == 200:
				sb.WriteByte('.')
			default:
				sb.WriteString(r.errType[:1])
			}
		}
		return sb.String()
	}
	a, b, c := run(42), run(42), run(43)
	if a != b {
		t.Errorf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same outcomes: %s", a)
	}
}

func TestStatsAndReset(t *testing.T) {
	b := newBackend(t)
	p, u := startProxy(t, b, Config{Quotas: map[string]float64{"GetPolicy": 1}})
	client := &http.Client{}
	for _, path := range []string{"/policies/p", "/policies/p", "/policies/q", "/things/t", "/moto-api/data.json"} {
		send(t, client, "GET", u+path)
	}
	want := map[string]int64{"GetPolicy": 3, "DescribeThing": 1, Other: 1}
	got := p.Counts()
	if len(got) != len(want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	for op, n := range want {
		if got[op] != n {
			t.Errorf("Counts()[%s] = %d, want %d", op, got[op], n)
		}
	}
	if tot := p.Total(); tot.Calls != 4 || tot.Throttled != 2 || tot.Forwarded != 2 {
		t.Errorf("Total() = %+v", tot)
	}
	p.ResetStats()
	if got := p.Counts(); len(got) != 0 {
		t.Errorf("after ResetStats: %v", got)
	}
	// SetConfig lifts the quota and refills.
	p.SetConfig(Config{})
	if r := send(t, client, "GET", u+"/policies/p"); r.status != 200 {
		t.Errorf("after SetConfig: %+v", r)
	}
	if cfg := p.Config(); cfg.Quotas != nil {
		t.Errorf("Config() = %+v", cfg)
	}
}

// TestCloseWaitsForForwarded: Close returns only once a request already
// forwarded has the backend's answer, so that nothing a test sent through
// the proxy reaches a shared moto after it has been reset for the next.
func TestCloseWaitsForForwarded(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var answered atomic.Bool
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-release
		answered.Store(true)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(backend.Close)
	target, _ := url.Parse(backend.URL)
	p := New(target, Config{})
	u, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", u+"/things/t1", strings.NewReader(`{}`))
	go do(freshClient(), req)
	<-arrived
	closed := make(chan bool, 1)
	go func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		closed <- answered.Load()
	}()
	// Close has begun once the proxy refuses connections.
	for {
		c, err := net.Dial("tcp", p.ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
	}
	close(release)
	if !<-closed {
		t.Error("Close returned before the backend answered a forwarded request")
	}
}

// TestCloseDropsWaiting: a request still waiting out its Latency at Close
// is dropped, never forwarded, and Close does not wait for the latency.
func TestCloseDropsWaiting(t *testing.T) {
	b := newBackend(t)
	p := New(b.url, Config{Latency: time.Hour})
	u, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan result, 1)
	req, _ := http.NewRequest("POST", u+"/things/t1", strings.NewReader(`{}`))
	go func() { res <- do(freshClient(), req) }()
	for p.Stats()["CreateThing"].Calls == 0 {
		runtime.Gosched()
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := <-res; r.err == nil {
		t.Errorf("client got HTTP %d, want no answer", r.status)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("backend got %d requests, want none", n)
	}
	if s := p.Stats()["CreateThing"]; s.Forwarded != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestRefuseAfter checks that the endpoint goes down at the RefuseAfter-th
// IoT request: that one is served, a request on a connection kept open is
// hung up unforwarded, a new connection is refused, and a new proxy can
// take the address over.
func TestRefuseAfter(t *testing.T) {
	b := newBackend(t)
	p, u := startProxy(t, b, Config{RefuseAfter: 3})
	kept := &http.Client{Timeout: 10 * time.Second} // keeps its connection
	for i := range 3 {
		if r := send(t, kept, "PUT", u+"/target-policies/p"); r.err != nil || r.status != http.StatusOK {
			t.Fatalf("request %d: %+v, want served", i+1, r)
		}
	}
	r := send(t, kept, "PUT", u+"/target-policies/p")
	if r.err == nil {
		t.Fatalf("request after RefuseAfter answered %d", r.status)
	}
	var op *net.OpError
	if !errors.As(r.err, &op) || op.Op != "dial" || !errors.Is(r.err, syscall.ECONNREFUSED) {
		// net/http may have sent it on the kept connection: that one is
		// hung up, and the next one must find the port closed.
		r = send(t, freshClient(), "PUT", u+"/target-policies/p")
		if !errors.As(r.err, &op) || op.Op != "dial" || !errors.Is(r.err, syscall.ECONNREFUSED) {
			t.Fatalf("request after RefuseAfter: %v, want a refused connection", r.err)
		}
	}
	if got := b.hits.Load(); got != 3 {
		t.Errorf("backend got %d requests, want 3", got)
	}

	again := New(b.url, Config{})
	u2, err := again.StartAt(strings.TrimPrefix(u, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if u2 != u {
		t.Errorf("StartAt serves %s, want %s", u2, u)
	}
	if r := send(t, freshClient(), "PUT", u+"/target-policies/p"); r.err != nil || r.status != http.StatusOK {
		t.Errorf("the endpoint back: %+v", r)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after Refuse: %v", err)
	}
}
