package report

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestRateLimit fires 300 valid reports as fast as 16 clients can: the
// bucket starts full, so at least its burst is accepted, and at most the
// burst plus the rate times the time the requests took; every other
// request is a 429 with Retry-After, and every accepted one is spooled.
func TestRateLimit(t *testing.T) {
	const total, workers = 300, 16
	h := newHarness(t, nil)
	body := js(t, downloadBody)
	var ok, limited, other, noRetryAfter atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				req, _ := http.NewRequest(http.MethodPost, h.base+PathDownloadMetrics, strings.NewReader(body))
				resp, err := h.client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						noRetryAfter.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	bound := int64(DefaultBurst + DefaultRate*elapsed.Seconds() + 1)
	t.Logf("%d accepted, %d limited in %v (bound %d)", ok.Load(), limited.Load(), elapsed, bound)
	if other.Load() != 0 || noRetryAfter.Load() != 0 {
		t.Fatalf("%d answers neither 200 nor 429, %d 429s without Retry-After; want 0", other.Load(), noRetryAfter.Load())
	}
	if ok.Load() < DefaultBurst || ok.Load() > bound {
		t.Fatalf("unexpected accepted count; got %d; want %d to %d", ok.Load(), DefaultBurst, bound)
	}
	if ok.Load()+limited.Load() != total {
		t.Fatalf("got %d answers; want %d", ok.Load()+limited.Load(), total)
	}
	if got := testutil.ToFloat64(h.srv.m.rejected.WithLabelValues(reasonRateLimited)); got != float64(limited.Load()) {
		t.Errorf("rejected_total{reason=rate_limited} %v; want %d", got, limited.Load())
	}
	evs, closed := h.spooled()
	if int64(len(evs)) != ok.Load() || closed == nil || closed.Seq != uint64(ok.Load()) {
		t.Fatalf("spool holds %d events, closed %+v; want %d and a closed message with that seq", len(evs), closed, ok.Load())
	}
}

// TestMetrics: requests by path and code, events by kind, rejections by
// reason, in the forwarder's registry, and promlint finds nothing.
func TestMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.mustPost(PathDownloadMetrics, js(t, downloadBody))
	h.mustPost(PathInstanceState, js(t, instanceStateBody))
	h.post(PathSetupRun, "{")
	h.post("/nope", "{}")
	h.stop()
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(h.srv.m.requests.WithLabelValues(PathDownloadMetrics, "200")), 1, "requests download 200"},
		{testutil.ToFloat64(h.srv.m.requests.WithLabelValues(PathSetupRun, "400")), 1, "requests setup-run 400"},
		{testutil.ToFloat64(h.srv.m.requests.WithLabelValues(otherPath, "404")), 1, "requests other 404"},
		{testutil.ToFloat64(h.srv.m.accepted.WithLabelValues("download")), 1, "accepted download"},
		{testutil.ToFloat64(h.srv.m.accepted.WithLabelValues("instance_state")), 1, "accepted instance_state"},
		{testutil.ToFloat64(h.srv.m.accepted.WithLabelValues("setup_run")), 0, "accepted setup_run"},
		{testutil.ToFloat64(h.srv.m.rejected.WithLabelValues(reasonBadJSON)), 1, "rejected bad_json"},
		{testutil.ToFloat64(h.srv.m.rejected.WithLabelValues(reasonNotFound)), 1, "rejected not_found"},
	} {
		if c.got != c.want {
			t.Errorf("unexpected %s; got %v; want %v", c.what, c.got, c.want)
		}
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "readout_forwarder_report_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}
