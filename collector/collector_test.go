package collector

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/readout-dev/readout/wire"
)

// fakeClock is a wall clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func newClock(t time.Time) *fakeClock { c := &fakeClock{}; c.set(t); return c }
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir = "127.0.0.1:0", t.TempDir(), t.TempDir()
	cfg.FlushInterval = time.Hour // flushes happen when the test asks
	return cfg
}

type harness struct {
	c   *Collector
	srv *httptest.Server
	reg *prometheus.Registry
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := Open(cfg, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	c.Start()
	h := &harness{c: c, srv: httptest.NewServer(c.Handler()), reg: reg}
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *harness) stop(t *testing.T) {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	h.srv = nil
	if err := h.c.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestExactTotals posts a scenario over real HTTP, with a flush between its
// two phases so that the second phase's events are late for windows already
// written, and checks the files and the audit against independent sums.
func TestExactTotals(t *testing.T) {
	cfg := testConfig(t)
	clock := newClock(testBase.Add(5 * time.Minute))
	cfg.Now = clock.now
	h := start(t, cfg)
	s := makeScenario(1, 4, 400, testBase, 60)
	tr := newTruth()
	fwd := [16]byte{0xf0}
	var bseq uint64
	send := func(batches [][]wire.Event) {
		for i, b := range batches {
			bseq++
			if code := post(t, h.srv.URL, "", encodeBatch(t, fwd, bseq, b), i%2 == 0); code != http.StatusOK {
				t.Fatalf("batch %d: status %d", bseq, code)
			}
			for j := range b {
				tr.deliver(&b[j])
			}
		}
	}
	send(s.phase1)
	if got := value(t, h.c.m.openWindows); got != 5 {
		t.Fatalf("unexpected open windows; got %v; want 5", got)
	}
	clock.set(testBase.Add(5*time.Minute + DefaultAllowedLateness))
	if err := h.c.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := value(t, h.c.m.openWindows); got != 0 {
		t.Fatalf("windows left open after the flush; got %v; want 0", got)
	}
	send(s.phase2)
	h.stop(t)

	rows, files := readRows(t, cfg.OutDir)
	if len(files) < 2 {
		t.Fatalf("expected files from two flushes; got %d", len(files))
	}
	checkTotals(t, rows, tr)
	checkQuantiles(t, rows, tr, testBase.Add(2*time.Minute))
	checkQuantiles(t, rows, tr)
	checkAudit(t, cfg.OutDir, tr, true)
	if got := value(t, h.c.m.duplicates); got == 0 {
		t.Fatal("scenario produced no duplicates")
	}
}

// value reads the current value of a counter or gauge.
func value(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	c.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		}
	}
	return sum
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func newServer(c *Collector) *httptest.Server { return httptest.NewServer(c.Handler()) }

func testRand() *rand.Rand { return rand.New(rand.NewSource(42)) }

// TestConcurrentPosts: many forwarders at once (group commit under the race
// detector) still count every event once.
func TestConcurrentPosts(t *testing.T) {
	cfg := testConfig(t)
	reg := newRegistry()
	c, err := Open(cfg, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	// Hold the loop after its first group commit until batches queue up
	// behind it, so the test shows they share the next fsync (whatever
	// the machine's timing would otherwise do).
	var once sync.Once
	c.faults.hook = func(p string) {
		if p == CrashAfterWALAppend {
			once.Do(func() {
				deadline := time.Now().Add(10 * time.Second)
				for len(c.intake.queue) < 4 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			})
		}
	}
	c.Start()
	h := &harness{c: c, srv: newServer(c), reg: reg}
	t.Cleanup(func() { h.stop(t) })
	s := makeScenario(2, 6, 200, testBase, 30)
	batches := append(s.phase1, s.phase2...)
	work := make(chan int)
	errs := make(chan error, len(batches))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := encodeBatch(t, [16]byte{byte(g)}, uint64(i+1), batches[i])
				if code := post(t, h.srv.URL, "", body, i%3 == 0); code != http.StatusOK {
					errs <- fmt.Errorf("batch %d: status %d", i, code)
				}
			}
		}()
	}
	for i := range batches {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fsyncs := value(t, h.c.m.walFsyncs)
	h.stop(t)
	if fsyncs >= float64(len(batches)) {
		t.Fatalf("unexpected group commits; got %v fsyncs for %d batches; want fewer (batches queued together share one)", fsyncs, len(batches))
	}
	// Duplicate and received counts do not depend on arrival order.
	tr := newTruth()
	for _, b := range batches {
		for j := range b {
			tr.deliver(&b[j])
		}
	}
	rows, _ := readRows(t, cfg.OutDir)
	checkTotals(t, rows, tr)
	checkQuantiles(t, rows, tr)
	checkAudit(t, cfg.OutDir, tr, true)
}
