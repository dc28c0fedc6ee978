package report

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/readout-dev/readout/forwarder"
	"github.com/readout-dev/readout/forwarder/spool"
	"github.com/readout-dev/readout/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness is a real forwarder (spool files under t.TempDir, a Unix socket)
// with a report server in front of it on a loopback port. Its collector
// always answers 503, so that every batch stays in the spool for the test
// to read back once both have stopped.
type harness struct {
	t        *testing.T
	fwd      *forwarder.Forwarder
	srv      *Server
	reg      *prometheus.Registry
	base     string // http://HOST:PORT
	client   *http.Client
	spoolDir string
	stopped  bool
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
	}))
	t.Cleanup(col.Close)
	sockDir, err := os.MkdirTemp("", "rep")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	fc := forwarder.DefaultConfig()
	fc.Socket = filepath.Join(sockDir, "f.sock")
	fc.Spool = t.TempDir()
	fc.Collector = col.URL
	fc.SpoolCompress = "none"
	fc.BatchLinger = 5 * time.Millisecond
	fc.RetryMin, fc.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	fc.DrainTimeout, fc.DrainGrace = 100*time.Millisecond, 20*time.Millisecond
	reg := prometheus.NewRegistry()
	fwd, err := forwarder.New(fc, nil, reg)
	if err != nil {
		t.Fatalf("new forwarder: %v", err)
	}
	rc := DefaultConfig()
	rc.Addr = "127.0.0.1:0"
	if edit != nil {
		edit(&rc)
	}
	srv, err := New(rc, fwd, nil, reg)
	if err != nil {
		fwd.Shutdown(context.Background())
		t.Fatalf("new report server: %v", err)
	}
	fwd.Start()
	srv.Start()
	h := &harness{t: t, fwd: fwd, srv: srv, reg: reg, base: "http://" + srv.Addr().String(), spoolDir: fc.Spool,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	t.Cleanup(func() { h.stop() })
	return h
}

// stop shuts the report server down (its closed message goes to the
// spool), then the forwarder, whose drain runs out against the 503s.
func (h *harness) stop() {
	h.t.Helper()
	if h.stopped {
		return
	}
	h.stopped = true
	defer h.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("report shutdown: %v", err)
	}
	if err := h.fwd.Shutdown(ctx); err != nil {
		h.t.Errorf("forwarder shutdown: %v", err)
	}
}

// post sends body to path and returns the status and the response body.
func (h *harness) post(path, body string, header ...string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, string) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustPost posts and fails unless the answer is 200.
func (h *harness) mustPost(path, body string) {
	h.t.Helper()
	if code, msg := h.post(path, body); code != http.StatusOK {
		h.t.Fatalf("POST %s: got %d %q; want 200", path, code, msg)
	}
}

// spooled stops everything and returns what the spool files hold: the
// report emitter's events in spool order, and its closed message (nil
// when there is none). An event of any other emitter fails the test.
func (h *harness) spooled() (events []wire.Event, closed *wire.Event) {
	h.t.Helper()
	h.stop()
	for _, ev := range readSpool(h.t, h.spoolDir) {
		switch {
		case ev.EmitterID != h.srv.EmitterID():
			h.t.Fatalf("spool holds an event of emitter %x; want only the report emitter %x", ev.EmitterID, h.srv.EmitterID())
		case ev.Kind == wire.KindClosed:
			if closed != nil {
				h.t.Fatalf("two closed messages in the spool")
			}
			c := ev
			closed = &c
		default:
			events = append(events, ev)
		}
	}
	return events, closed
}

// only returns the one event the spool must hold, checked to be seq 1 and
// closed by a closed message with seq 1.
func (h *harness) only() wire.Event {
	h.t.Helper()
	evs, closed := h.spooled()
	if len(evs) != 1 {
		h.t.Fatalf("spool holds %d events; want 1", len(evs))
	}
	if evs[0].Seq != 1 || closed == nil || closed.Seq != 1 || closed.DroppedTotal != 0 {
		h.t.Fatalf("seq %d, closed %+v; want seq 1 and a closed message with seq 1, 0 dropped", evs[0].Seq, closed)
	}
	return evs[0]
}

// readSpool opens a stopped forwarder's spool and decodes every event in
// it with the reference decoder.
func readSpool(t *testing.T, dir string) []wire.Event {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	defer sp.Close()
	var out []wire.Event
	for range sp.Stats().Pending {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := sp.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read spool: %v", err)
		}
		if err := wire.Frames(rec.Events, wire.MaxMessageSize, func(frame []byte) error {
			ev, err := wire.DecodeEventCapnp(frame)
			out = append(out, ev)
			return err
		}); err != nil {
			t.Fatalf("decode spooled event: %v", err)
		}
	}
	return out
}

// segmentsHold reports whether the spool's files hold b (the spool stores
// events as they are with compression "none").
func segmentsHold(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && bytes.Contains(data, b) {
			return true
		}
	}
	return false
}
