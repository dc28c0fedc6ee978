package forwarder

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// retryAfterCollector answers the first request 503 with a Retry-After of
// its value, and every later one 200 (without decoding: this test is about
// when requests come), recording when each arrived.
type retryAfterCollector struct {
	srv        *httptest.Server
	retryAfter string
	mu         sync.Mutex
	times      []time.Time
}

func newRetryAfterCollector(t *testing.T, retryAfter string) *retryAfterCollector {
	c := &retryAfterCollector{retryAfter: retryAfter}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		c.times = append(c.times, time.Now())
		first := len(c.times) == 1
		c.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", c.retryAfter)
			http.Error(w, "shedding load", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *retryAfterCollector) requests() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.times...)
}

// TestRetryAfterHonoured: a collector answering 503 with Retry-After: 2
// gets the batch again no sooner than two seconds later, although the
// forwarder's own backoff (5 ms) would have retried many times by then.
func TestRetryAfterHonoured(t *testing.T) {
	col := newRetryAfterCollector(t, "2")
	cfg := testConfig(t, col.srv.URL)
	cfg.ShipConcurrency = 1
	r := startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 10)
	waitFor(t, 10*time.Second, "the retry", func() bool { return len(col.requests()) >= 2 })
	times := col.requests()
	if gap := times[1].Sub(times[0]); gap < 2*time.Second {
		t.Fatalf("unexpected retry; got it %s after the 503; want at least 2s", gap)
	}
	if gap := times[1].Sub(times[0]); gap > 4*time.Second {
		t.Errorf("unexpected retry; got it %s after the 503; want about 2s", gap)
	}
	r.stop(t)
}

// TestRetryAfterStopsAtDrainDeadline: a batch held back by a long
// Retry-After does not hold up shutdown past the drain deadline, and is not
// re-sent early because draining began; it stays in the spool.
func TestRetryAfterStopsAtDrainDeadline(t *testing.T) {
	col := newRetryAfterCollector(t, "30")
	cfg := testConfig(t, col.srv.URL)
	cfg.ShipConcurrency = 1
	cfg.DrainTimeout = 300 * time.Millisecond
	r := startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 10)
	waitFor(t, 5*time.Second, "the first request", func() bool { return len(col.requests()) >= 1 })
	start := time.Now()
	r.stop(t)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("unexpected shutdown; took %s; want about the 300ms drain timeout", took)
	}
	if n := len(col.requests()); n != 1 {
		t.Errorf("unexpected requests; got %d; want 1 (the retry waits for Retry-After)", n)
	}
	if st := r.f.sp.Stats(); st.Pending == 0 {
		t.Errorf("unexpected spool; got nothing pending; want the batch kept for the next start")
	}
}

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		wait, retryAfter, want time.Duration
	}{
		{time.Second, 0, time.Second},
		{time.Second, 2 * time.Second, 2 * time.Second},
		{5 * time.Second, 2 * time.Second, 5 * time.Second},
		{time.Second, time.Hour, maxRetryAfter},
	} {
		if got := retryDelay(tc.wait, tc.retryAfter); got != tc.want {
			t.Errorf("retryDelay(%s, %s): got %s; want %s", tc.wait, tc.retryAfter, got, tc.want)
		}
	}
}
