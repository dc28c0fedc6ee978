package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/readout-dev/readout/wire"
)

// key names one event for deduplication checks.
type key struct {
	emitter [16]byte
	seq     uint64
}

// testCollector is a real HTTP server that decodes batches the way the
// collector will and records what arrived. Batches are deduplicated by
// (forwarder id, batch seq), which the test also checks never changes
// content; events inside distinct batches are counted, so a duplicate
// within the forwarder's own batches shows up as a count above 1.
type testCollector struct {
	t      *testing.T
	srv    *httptest.Server
	status atomic.Int32 // answer with this status instead of 200 when non-zero
	// statusLeft, when positive, is how many more requests get status;
	// the last of them clears it.
	statusLeft atomic.Int32

	mu       sync.Mutex
	batches  map[string][]byte // forwarder id + batch seq -> events
	events   map[key]int
	anon     int
	closed   map[[16]byte]uint64
	frames   [][]byte
	requests int
	errs     []string
}

func newTestCollector(t *testing.T) *testCollector {
	tc := &testCollector{t: t, batches: map[string][]byte{}, events: map[key]int{}, closed: map[[16]byte]uint64{}}
	tc.srv = httptest.NewServer(http.HandlerFunc(tc.handle))
	t.Cleanup(tc.srv.Close)
	return tc
}

func (tc *testCollector) fail(format string, args ...any) {
	tc.mu.Lock()
	tc.errs = append(tc.errs, fmt.Sprintf(format, args...))
	tc.mu.Unlock()
}

func (tc *testCollector) handle(w http.ResponseWriter, r *http.Request) {
	tc.mu.Lock()
	tc.requests++
	tc.mu.Unlock()
	if s := tc.status.Load(); s != 0 {
		if tc.statusLeft.Load() > 0 && tc.statusLeft.Add(-1) == 0 {
			tc.status.Store(0)
		}
		http.Error(w, "test says no", int(s))
		return
	}
	if r.URL.Path != "/v1/batches" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-capnp" {
		tc.fail("bad request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "zstd" {
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b, err := wire.DecodeBatch(data, wire.DefaultMaxMessageSize)
	if err != nil {
		tc.fail("decode batch: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var evs []wire.Event
	if err := wire.Frames(b.Events, wire.DefaultMaxMessageSize, func(frame []byte) error {
		ev, err := wire.DecodeEventCapnp(frame)
		evs = append(evs, ev)
		return err
	}); err != nil {
		tc.fail("decode event: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	bk := fmt.Sprintf("%x/%d", b.ForwarderID, b.BatchSeq)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if prev, ok := tc.batches[bk]; ok {
		if !bytes.Equal(prev, b.Events) {
			tc.errs = append(tc.errs, "batch "+bk+" re-sent with different content")
		}
		return
	}
	tc.batches[bk] = bytes.Clone(b.Events)
	wire.Frames(b.Events, wire.DefaultMaxMessageSize, func(frame []byte) error {
		tc.frames = append(tc.frames, bytes.Clone(frame))
		return nil
	})
	for _, ev := range evs {
		switch {
		case ev.Kind == wire.KindClosed:
			tc.closed[ev.EmitterID] = ev.Seq
		case ev.Anonymous():
			tc.anon++
		default:
			tc.events[key{ev.EmitterID, ev.Seq}]++
		}
	}
}

func (tc *testCollector) URL() string { return tc.srv.URL }

// snapshot returns copies of what arrived.
func (tc *testCollector) snapshot() (map[key]int, int) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	m := make(map[key]int, len(tc.events))
	for k, v := range tc.events {
		m[k] = v
	}
	return m, tc.anon
}

func (tc *testCollector) check() {
	tc.t.Helper()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, e := range tc.errs {
		tc.t.Error(e)
	}
	for k, n := range tc.events {
		if n != 1 {
			tc.t.Errorf("event %x/%d arrived in %d distinct batches; want 1", k.emitter[:4], k.seq, n)
		}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shortDir returns a short temporary directory for socket paths, which
// the kernel limits to 107 bytes.
func shortDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "fwd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testConfig is a config with small timings for tests.
func testConfig(t *testing.T, collector string) Config {
	cfg := DefaultConfig()
	cfg.Socket = filepath.Join(shortDir(t), "f.sock")
	cfg.Spool = t.TempDir()
	cfg.Collector = collector
	cfg.BatchLinger = 10 * time.Millisecond
	cfg.RetryMin = 5 * time.Millisecond
	cfg.RetryMax = 50 * time.Millisecond
	cfg.DrainTimeout = 5 * time.Second
	cfg.DrainGrace = 200 * time.Millisecond
	return cfg
}

// running is a forwarder started in-process.
type running struct {
	f      *Forwarder
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func startForwarder(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	f, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("new forwarder: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{f: f, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- f.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop drains the forwarder and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("forwarder did not stop")
	}
	r.done = nil
}

// metric returns the sum of a metric family's samples.
func (r *running) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// emitter is a test client on one connection: it writes frames and reads
// acknowledgements.
type emitter struct {
	c       *net.UnixConn
	id      [16]byte
	seq     uint64
	acked   atomic.Uint64
	closed  atomic.Bool
	readErr chan error
}

func dialEmitter(t *testing.T, socket string, id byte) *emitter {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	e := &emitter{c: c, readErr: make(chan error, 1)}
	e.id[0], e.id[15] = id, 0xee
	go e.readAcks()
	t.Cleanup(func() { c.Close() })
	return e
}

func (e *emitter) readAcks() {
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := e.c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			size, ferr := wire.FrameSize(buf, 1024)
			if ferr != nil || size > len(buf) {
				if ferr != nil && !errors.Is(ferr, wire.ErrShortFrame) {
					e.readErr <- ferr
					return
				}
				break
			}
			a, derr := wire.DecodeAck(buf[:size])
			if derr != nil {
				e.readErr <- derr
				return
			}
			if a.DurableSeq < e.acked.Load() {
				e.readErr <- fmt.Errorf("ack went back from %d to %d", e.acked.Load(), a.DurableSeq)
				return
			}
			e.acked.Store(a.DurableSeq)
			if a.Closed {
				e.closed.Store(true)
			}
			buf = buf[size:]
		}
		if err != nil {
			e.readErr <- err
			return
		}
	}
}

// event returns the next event of this emitter, encoded.
func (e *emitter) event(t testing.TB) []byte {
	e.seq++
	return encode(t, &wire.Event{ID: [16]byte{1, byte(e.seq)}, TimestampNs: time.Now().UnixNano(), EmitterID: e.id, Seq: e.seq,
		Kind: wire.KindInference, Inference: wire.Inference{ModelID: "@cf/test/model", AccountID: 7, RequestTimeUs: e.seq}})
}

func (e *emitter) send(t *testing.T, n int) {
	t.Helper()
	var buf []byte
	for range n {
		buf = append(buf, e.event(t)...)
	}
	if _, err := e.c.Write(buf); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func encode(t testing.TB, ev *wire.Event) []byte {
	b, err := wire.EncodeEventCapnp(ev)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// metricLabel returns the value of one labelled sample.
func (r *running) metricLabel(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

type recorder struct {
	code int
	h    http.Header
}

func newRecorder() *recorder { return &recorder{code: http.StatusOK, h: http.Header{}} }

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func mustRequest(t *testing.T, path string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, "http://x"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func newHTTPServer(tb testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
