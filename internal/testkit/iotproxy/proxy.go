package iotproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingpress/thingpress/internal/ratelimit"
)

// Config says what the proxy does to requests. The zero value forwards
// everything unchanged.
type Config struct {
	// Quotas limits operations to so many requests per second, with a
	// burst of the rate rounded up (at least 1). Operations not listed are
	// not limited; a rate of 0 or less throttles every request.
	Quotas map[string]float64
	// FaultRate is the fraction of requests (not throttled) answered with
	// 500 InternalFailureException or 503 ServiceUnavailableException,
	// half each, without forwarding them.
	FaultRate float64
	// DropRate is the fraction of requests (not throttled, not faulted)
	// whose connection is closed without an answer.
	DropRate float64
	// DropAfterForward is the fraction of dropped requests that are first
	// forwarded, so that they take effect at the backend although the
	// client never hears; the others are dropped before forwarding.
	DropAfterForward float64
	// FaultOps, if not empty, limits faults and drops to these operations.
	// Latency and quotas apply regardless.
	FaultOps []string
	// Latency is added to every recognised IoT request, plus a uniformly
	// random extra in [0, Jitter).
	Latency time.Duration
	Jitter  time.Duration
	// Seed makes the random choices reproducible.
	Seed int64
	// ThrottleRate is the fraction of requests within quota that are
	// throttled all the same, as when other tools share the account's
	// quota.
	ThrottleRate float64
	// StrictCreateThing gives CreateThing AWS's semantics, which moto
	// lacks: a second CreateThing of a name with another thing type or
	// other attributes is answered 409 ResourceAlreadyExistsException
	// instead of replacing the Thing. Only Things created through the
	// proxy are known, until a DeleteThing through it.
	StrictCreateThing bool
	// StrictAttributes gives CreateThing AWS's checks of attributes,
	// which moto lacks: an attribute name outside [a-zA-Z0-9_.,@/:#-]
	// (1 to 128 characters) or a value outside [a-zA-Z0-9_.,@/:#=\[\]-]
	// (at most 800) is answered 400 InvalidRequestException, and the Thing
	// is not made.
	StrictAttributes bool
	// StrictExclusive gives AttachThingPrincipal's thingPrincipalType
	// EXCLUSIVE_THING its meaning, which moto ignores: a certificate
	// attached exclusively to one Thing is refused for another, and an
	// exclusive attachment is refused for a certificate attached to
	// another Thing, with 400 InvalidRequestException (AWS documents no
	// error for this; the type is the one AttachThingPrincipal lists for
	// a request it refuses). Attaching again to the same Thing succeeds.
	// Only attachments made through the proxy are known.
	StrictExclusive bool
	// RefuseAfter, if positive, takes the endpoint down after so many IoT
	// requests (Other not counted; SetConfig counts afresh), as a server
	// that stopped or a network that went away: at that request the
	// listener closes, so new connections are refused, and idle
	// connections are closed; that request is still served. Later
	// requests on connections still open are hung up without forwarding
	// (counted Dropped). See Refuse.
	RefuseAfter int
	// Observe, if set, sees every request that is forwarded (dropped
	// after forwarding included), with its body, before it is forwarded.
	Observe func(op string, r *http.Request, body []byte)
}

// DefaultQuotas returns AWS IoT's default per-account rate quotas (TPS)
// for the operations the importer uses (ratelimit's table). The map is a
// fresh copy.
func DefaultQuotas() map[string]float64 { return ratelimit.DefaultQuotas() }

// OpStats counts what happened to the requests of one operation.
type OpStats struct {
	Calls               int64 // requests that reached the proxy
	Forwarded           int64 // sent to the backend (including drops after forwarding)
	Throttled           int64 // answered ThrottlingException
	Faults              int64 // answered 500 or 503
	Dropped             int64 // closed without an answer, before or after forwarding
	DroppedAfterForward int64 // the part of Dropped that reached the backend
	Conflicts           int64 // CreateThing answered 409 under StrictCreateThing
	Invalid             int64 // CreateThing answered 400 under StrictAttributes
	Refused             int64 // AttachThingPrincipal answered 400 under StrictExclusive
}

func (s *OpStats) add(o OpStats) {
	s.Calls += o.Calls
	s.Forwarded += o.Forwarded
	s.Throttled += o.Throttled
	s.Faults += o.Faults
	s.Dropped += o.Dropped
	s.DroppedAfterForward += o.DroppedAfterForward
	s.Conflicts += o.Conflicts
	s.Invalid += o.Invalid
	s.Refused += o.Refused
}

// Proxy is a fault-injecting reverse proxy; it is an http.Handler.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy

	mu      sync.Mutex       // guards now, cfg, faultOn, buckets, rng, seen
	now     func() time.Time // the clock of the token buckets; tests replace it
	cfg     Config
	faultOn map[string]bool
	buckets map[string]*bucket
	rng     *mrand.Rand
	seen    int // IoT requests since SetConfig, for RefuseAfter
	// refusing is set once Refuse took the endpoint down.
	refusing atomic.Bool
	things   map[string]string // CreateThing settings by name, for StrictCreateThing
	// attached is, by principal, the Things it is attached to and the one
	// it is attached to exclusively, for StrictExclusive.
	attached map[string]*attachment

	statsMu sync.Mutex
	stats   map[string]*OpStats

	srv *http.Server
	ln  net.Listener
	// closing ends, at Close, the waits for Latency; aborting ends, when
	// Close gives up waiting, the requests forwarded to the backend.
	closing, aborting context.Context
	stop, abort       context.CancelFunc
	// inflight counts the requests being served; once closing is done
	// (under inMu) none is added, so that Close can wait for them.
	inMu     sync.Mutex
	inflight sync.WaitGroup
}

// closeWait bounds how long Close waits for the backend to answer the
// requests already forwarded.
const closeWait = 10 * time.Second

// New returns a proxy that forwards to target (scheme and host; a path
// prefix is kept).
func New(target *url.URL, cfg Config) *Proxy {
	p := &Proxy{target: target, now: time.Now, stats: make(map[string]*OpStats), things: map[string]string{}, attached: map[string]*attachment{}}
	p.closing, p.stop = context.WithCancel(context.Background())
	p.aborting, p.abort = context.WithCancel(context.Background())
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256 // benchmarks run many calls at once
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // keep what the client signed
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "iotproxy: backend: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.SetConfig(cfg)
	return p
}

// SetConfig replaces the configuration; token buckets start full again
// and the random sequence restarts from the new Seed.
func (p *Proxy) SetConfig(cfg Config) {
	cfg.Quotas = cloneQuotas(cfg.Quotas)
	cfg.FaultOps = slices.Clone(cfg.FaultOps)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.faultOn = nil
	if len(cfg.FaultOps) > 0 {
		p.faultOn = make(map[string]bool, len(cfg.FaultOps))
		for _, op := range cfg.FaultOps {
			p.faultOn[op] = true
		}
	}
	p.buckets = make(map[string]*bucket, len(cfg.Quotas))
	for op, rate := range cfg.Quotas {
		p.buckets[op] = newBucket(rate)
	}
	p.rng = mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x7468696e67707273))
	p.seen = 0
}

// setClock replaces the clock of the token buckets (for tests).
func (p *Proxy) setClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// Config returns a copy of the current configuration.
func (p *Proxy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cfg
	c.Quotas = cloneQuotas(c.Quotas)
	c.FaultOps = slices.Clone(c.FaultOps)
	return c
}

func cloneQuotas(q map[string]float64) map[string]float64 {
	if q == nil {
		return nil
	}
	out := make(map[string]float64, len(q))
	for k, v := range q {
		out[k] = v
	}
	return out
}

// action is what the proxy decided to do with one request.
type action int

const (
	forward action = iota
	throttle
	fault500
	fault503
	dropBefore
	dropAfter
)

func (p *Proxy) decide(op string) (action, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op != Other && p.cfg.RefuseAfter > 0 {
		p.seen++
		if p.seen == p.cfg.RefuseAfter {
			// Under mu, so that every later request sees refusing.
			p.Refuse()
			return forward, 0 // this one is still served
		}
	}
	if p.refusing.Load() {
		return dropBefore, 0 // on a connection still open
	}
	if op == Other {
		return forward, 0
	}
	delay := p.cfg.Latency
	if p.cfg.Jitter > 0 {
		delay += time.Duration(p.rng.Int64N(int64(p.cfg.Jitter)))
	}
	if b := p.buckets[op]; b != nil && !b.allow(p.now().Add(delay)) {
		return throttle, delay
	}
	if p.cfg.ThrottleRate > 0 && p.rng.Float64() < p.cfg.ThrottleRate {
		return throttle, delay
	}
	if p.faultOn != nil && !p.faultOn[op] {
		return forward, delay
	}
	if p.cfg.FaultRate > 0 || p.cfg.DropRate > 0 {
		x := p.rng.Float64()
		switch {
		case x < p.cfg.FaultRate:
			if p.rng.IntN(2) == 0 {
				return fault500, delay
			}
			return fault503, delay
		case x < p.cfg.FaultRate+p.cfg.DropRate:
			if p.rng.Float64() < p.cfg.DropAfterForward {
				return dropAfter, delay
			}
			return dropBefore, delay
		}
	}
	return forward, delay
}

// ServeHTTP applies the configuration to one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.inMu.Lock()
	if p.closing.Err() != nil {
		p.inMu.Unlock()
		hangUp(w)
		return
	}
	p.inflight.Add(1)
	p.inMu.Unlock()
	defer p.inflight.Done()
	op := Operation(r)
	p.count(op, OpStats{Calls: 1})
	act, delay := p.decide(op)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client left, or Close
			t.Stop()
			hangUp(w)
			return
		}
	}
	// Once forwarded, a request runs to the backend's answer, as one that
	// reached AWS takes effect whether or not the client waits for it;
	// only Close giving up ends it.
	fctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	defer context.AfterFunc(p.aborting, cancel)()
	r = r.WithContext(fctx)
	switch act {
	case throttle:
		p.count(op, OpStats{Throttled: 1})
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	case fault500:
		p.count(op, OpStats{Faults: 1})
		writeError(w, http.StatusInternalServerError, "InternalFailureException", "Internal failure")
	case fault503:
		p.count(op, OpStats{Faults: 1})
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailableException", "Service Unavailable")
	case dropBefore:
		p.count(op, OpStats{Dropped: 1})
		hangUp(w)
	case dropAfter:
		if p.conflict(op, r, w) {
			return
		}
		p.count(op, OpStats{Forwarded: 1, Dropped: 1, DroppedAfterForward: 1})
		p.rp.ServeHTTP(&discardWriter{header: http.Header{}}, r)
		hangUp(w)
	default:
		if p.conflict(op, r, w) {
			return
		}
		p.count(op, OpStats{Forwarded: 1})
		p.rp.ServeHTTP(w, r)
	}
}

// conflict reads the body of a request about to be forwarded, shows it to
// Observe and, with StrictAttributes or StrictCreateThing, answers a
// CreateThing that AWS would refuse as AWS does. It reports whether it
// answered.
func (p *Proxy) conflict(op string, r *http.Request, w http.ResponseWriter) bool {
	p.mu.Lock()
	observe, strict, strictAttrs, strictExcl := p.cfg.Observe, p.cfg.StrictCreateThing, p.cfg.StrictAttributes, p.cfg.StrictExclusive
	p.mu.Unlock()
	if strictExcl && op == "AttachThingPrincipal" && p.refuseAttach(r, w) {
		return true
	}
	createThing := op == "CreateThing" && (strict || strictAttrs)
	if strict && op == "DeleteThing" {
		// A deleted Thing's name is free again.
		name, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/things/"))
		p.mu.Lock()
		delete(p.things, name)
		p.mu.Unlock()
	}
	if observe == nil && !createThing {
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hangUp(w)
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strictAttrs && op == "CreateThing" {
		var in struct {
			AttributePayload struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"attributePayload"`
		}
		_ = json.Unmarshal(body, &in)
		if msg := invalidAttributes(in.AttributePayload.Attributes); msg != "" {
			p.count(op, OpStats{Invalid: 1})
			writeError(w, http.StatusBadRequest, "InvalidRequestException", msg)
			return true
		}
	}
	if strict && op == "CreateThing" {
		name, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/things/"))
		var in struct {
			ThingTypeName    string `json:"thingTypeName"`
			AttributePayload struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"attributePayload"`
		}
		_ = json.Unmarshal(body, &in)
		canon, _ := json.Marshal(in) // map keys are sorted
		p.mu.Lock()
		prev, seen := p.things[name]
		if !seen {
			p.things[name] = string(canon)
		}
		p.mu.Unlock()
		if seen && prev != string(canon) {
			p.count(op, OpStats{Conflicts: 1})
			writeConflict(w, name)
			return true
		}
	}
	if observe != nil {
		observe(op, r, body)
	}
	return false
}

// attachment is what StrictExclusive knows of one principal.
type attachment struct {
	things    map[string]bool
	exclusive string // the Thing it is attached to exclusively, or ""
}

// refuseAttach answers an AttachThingPrincipal that breaks an exclusive
// attachment as StrictExclusive says, and records the others. It reports
// whether it answered.
func (p *Proxy) refuseAttach(r *http.Request, w http.ResponseWriter) bool {
	path, _ := url.PathUnescape(r.URL.EscapedPath())
	thing := strings.TrimSuffix(strings.TrimPrefix(path, "/things/"), "/principals")
	principal := r.Header.Get("x-amzn-principal")
	exclusive := r.URL.Query().Get("thingPrincipalType") == "EXCLUSIVE_THING"
	p.mu.Lock()
	a := p.attached[principal]
	if a == nil {
		a = &attachment{things: map[string]bool{}}
		p.attached[principal] = a
	}
	var msg string
	switch {
	case a.exclusive != "" && a.exclusive != thing:
		msg = fmt.Sprintf("Principal %s is exclusively attached to thing %s", principal, a.exclusive)
	case exclusive && (len(a.things) > 1 || len(a.things) == 1 && !a.things[thing]):
		msg = fmt.Sprintf("Principal %s is attached to another thing; it cannot be attached exclusively to thing %s", principal, thing)
	default:
		a.things[thing] = true
		if exclusive {
			a.exclusive = thing
		}
	}
	p.mu.Unlock()
	if msg == "" {
		return false
	}
	p.count("AttachThingPrincipal", OpStats{Refused: 1})
	writeError(w, http.StatusBadRequest, "InvalidRequestException", msg)
	return true
}

var (
	attrName  = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,128}$`)
	attrValue = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}$`)
)

// invalidAttributes returns AWS's message for the first attribute that
// breaks AWS's pattern (names in sorted order), or "".
func invalidAttributes(attrs map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		switch {
		case !attrName.MatchString(k):
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'attributePayload.attributes' failed to satisfy constraint: "+
				"Map keys must satisfy constraint: [Member must have length less than or equal to 128, "+
				"Member must satisfy regular expression pattern: [a-zA-Z0-9_.,@/:#-]+]", k)
		case !attrValue.MatchString(attrs[k]):
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'attributePayload.attributes.%s' failed to satisfy constraint: "+
				"Map value must satisfy constraint: [Member must have length less than or equal to 800, "+
				"Member must satisfy regular expression pattern: [a-zA-Z0-9_.,@/:#=\\[\\]-]*]", attrs[k], k)
		}
	}
	return ""
}

// writeConflict answers CreateThing as AWS does for a name taken by a
// Thing with other settings.
func writeConflict(w http.ResponseWriter, name string) {
	body, _ := json.Marshal(map[string]string{
		"message":     fmt.Sprintf("Thing %s already exists with different tags/attributes", name),
		"resourceId":  name,
		"resourceArn": "arn:aws:iot:us-east-1:123456789012:thing/" + name,
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", "ResourceAlreadyExistsException")
	h.Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusConflict)
	_, _ = w.Write(body)
}

// writeError answers as the IoT service does in restJson1.
func writeError(w http.ResponseWriter, status int, errType, message string) {
	body := fmt.Sprintf(`{"message":%q}`, message)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", errType)
	h.Set("X-Amzn-RequestId", requestID())
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// hangUp closes the client's connection without a response.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a recorder): make the server abort.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // reset, as a lost connection would look
	}
	_ = conn.Close()
}

// discardWriter swallows the backend's answer of a drop after forwarding.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func (p *Proxy) count(op string, d OpStats) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	s := p.stats[op]
	if s == nil {
		s = &OpStats{}
		p.stats[op] = s
	}
	s.add(d)
}

// Stats returns a snapshot of the counters per operation.
func (p *Proxy) Stats() map[string]OpStats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	out := make(map[string]OpStats, len(p.stats))
	for op, s := range p.stats {
		out[op] = *s
	}
	return out
}

// Total returns the counters summed over all operations except Other.
func (p *Proxy) Total() OpStats {
	var t OpStats
	for op, s := range p.Stats() {
		if op != Other {
			t.add(s)
		}
	}
	return t
}

// Counts returns the number of requests per operation that reached the
// proxy, throttled, faulted and dropped ones included.
func (p *Proxy) Counts() map[string]int64 {
	out := make(map[string]int64)
	for op, s := range p.Stats() {
		out[op] = s.Calls
	}
	return out
}

// ResetStats sets every counter back to zero.
func (p *Proxy) ResetStats() {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.stats = make(map[string]*OpStats)
}

// Start serves the proxy on a free loopback port and returns its URL
// (http://127.0.0.1:PORT).
func (p *Proxy) Start() (string, error) { return p.StartAt("127.0.0.1:0") }

// StartAt serves the proxy on addr (host:port) and returns its URL: a new
// proxy can take over the address of one that Refuse took down, so that a
// client sees the same endpoint come back.
func (p *Proxy) StartAt(addr string) (string, error) {
	if p.srv != nil {
		return "", fmt.Errorf("iotproxy: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("iotproxy: listen: %w", err)
	}
	p.ln = ln
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return p.closing }}
	go func() { _ = p.srv.Serve(p.ln) }()
	return p.URL(), nil
}

// URL returns the address Start serves on, or "" before Start.
func (p *Proxy) URL() string {
	if p.ln == nil {
		return ""
	}
	return "http://" + p.ln.Addr().String()
}

// Refuse takes the endpoint down while requests may be in flight: the
// listener closes (a new connection is refused: the client's dial fails),
// idle connections close, and every request after this one is hung up
// without forwarding; requests being served finish. Close is still needed.
func (p *Proxy) Refuse() {
	if p.refusing.Swap(true) || p.srv == nil {
		return
	}
	_ = p.ln.Close()
	p.srv.SetKeepAlivesEnabled(false) // closes the idle connections
}

// Close stops serving, closes every connection and returns once no
// request is in flight: those still waiting out their Latency are dropped,
// and those forwarded end with the backend's answer (which no client
// hears), so that no request made before Close reaches the backend after
// it (a shared moto is reset for the next test once the proxy is closed).
// It waits at most 10 seconds, then abandons the forwarded requests.
func (p *Proxy) Close() error {
	p.inMu.Lock()
	p.stop()
	p.inMu.Unlock()
	var err error
	if p.srv != nil {
		if err = p.srv.Close(); errors.Is(err, net.ErrClosed) {
			err = nil // Refuse closed the listener
		}
	}
	done := make(chan struct{})
	go func() {
		p.inflight.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.abort()
		err = errors.Join(err, fmt.Errorf("iotproxy: requests still in flight %v after Close", closeWait))
	}
	p.rp.Transport.(*http.Transport).CloseIdleConnections()
	return err
}

// bucket is a token bucket: it holds at most burst tokens, gains rate
// tokens a second, and a request takes one.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64) *bucket {
	burst := math.Max(1, math.Ceil(rate))
	if rate <= 0 {
		burst = 0
	}
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

func (b *bucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return false
	}
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
