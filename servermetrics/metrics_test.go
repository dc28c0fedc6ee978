package servermetrics

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"
)

// contractNames are the names the contract fixes, with their types.
var contractNames = map[string]string{
	"readout_server_requests_total":             "COUNTER",
	"readout_server_errors_total":               "COUNTER",
	"readout_server_inferences_total":           "COUNTER",
	"readout_server_inferences_by_health_total": "COUNTER",
	"readout_server_turnstile_outcomes_total":   "COUNTER",
	"readout_server_full_fraction":              "GAUGE",
	"readout_server_total_permits":              "GAUGE",
	"readout_server_mean_used_permits":          "GAUGE",
	"readout_server_mean_queue_size":            "GAUGE",
	"readout_server_forward_failures_total":     "COUNTER",
	"readout_server_endpoints_removed":          "GAUGE",
	"readout_server_external_endpoints":         "GAUGE",
}

// gather returns every sample as name{label=value,...} -> value, labels in
// the registry's (sorted) order.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			name := mf.GetName()
			if len(ls) > 0 {
				name += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestCounters checks every counter's exact value and labels, and the
// gauges that are set rather than sampled.
func TestCounters(t *testing.T) {
	m, reg := newMetrics(t)
	for _, s := range []int{200, 200, 200, 429, 499, 42, 600, 0} {
		m.Request(s)
	}
	for _, o := range []Outcome{Leased, Leased, Queued, Rejected, Rejected, Rejected, Outcome(9)} {
		m.Turnstile(o)
	}
	shed := m.Errors(3040, 429)
	shed.Inc()
	m.Errors(3040, 429).Inc() // the same counter, resolved again
	m.Errors(3041, 499).Add(2)
	m.Errors(7, 0).Inc() // a status outside 100..599
	m.Inferences("vllm").Add(5)
	m.Inferences("tgi").Inc()
	m.Inferences("\xff").Inc() // two invalid names that read the same share one series
	m.Inferences("\xfe").Inc()
	m.InferencesByHealth("healthy").Add(6)
	_ = m.InferencesByHealth("unhealthy") // resolved, never moved: shown as 0
	m.ForwardFailure()
	m.ForwardFailure()
	m.SetEndpointsRemoved(3)
	m.SetExternalEndpoint("a.example", 443, "unhealthy")
	m.SetExternalEndpoint("a.example", 443, "healthy") // replaces the previous health
	m.SetExternalEndpoint("b.example", 8443, "unhealthy")
	m.SetExternalEndpoint("c.example", 80, "healthy")
	m.RemoveExternalEndpoint("c.example", 80)

	want := map[string]float64{
		"readout_server_requests_total{status=200}":                                    3,
		"readout_server_requests_total{status=429}":                                    1,
		"readout_server_requests_total{status=499}":                                    1,
		"readout_server_requests_total{status=other}":                                  3,
		"readout_server_turnstile_outcomes_total{outcome=leased}":                      2,
		"readout_server_turnstile_outcomes_total{outcome=queued}":                      1,
		"readout_server_turnstile_outcomes_total{outcome=rejected}":                    3,
		"readout_server_errors_total{http_status=429,internal_code=3040}":              2,
		"readout_server_errors_total{http_status=499,internal_code=3041}":              2,
		"readout_server_errors_total{http_status=other,internal_code=7}":               1,
		"readout_server_inferences_total{backend=vllm}":                                5,
		"readout_server_inferences_total{backend=tgi}":                                 1,
		"readout_server_inferences_total{backend=\uFFFD}":                              2,
		"readout_server_inferences_by_health_total{health_state=healthy}":              6,
		"readout_server_inferences_by_health_total{health_state=unhealthy}":            0,
		"readout_server_forward_failures_total":                                        2,
		"readout_server_endpoints_removed":                                             3,
		"readout_server_external_endpoints{health=healthy,host=a.example,port=443}":    1,
		"readout_server_external_endpoints{health=unhealthy,host=b.example,port=8443}": 1,
	}
	got := gather(t, reg)
	if !maps.Equal(got, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if g, ok := got[k]; !ok || g != want[k] {
				t.Errorf("%s: got %v (present %v); want %v", k, g, ok, want[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected series, value %v", k, got[k])
			}
		}
	}
}

// TestEveryContractNameIsServedAndLintClean fills every metric once and
// checks the names and types against the contract and promlint.
func TestEveryContractNameIsServedAndLintClean(t *testing.T) {
	m, reg := newMetrics(t)
	m.Request(200)
	m.Errors(3040, 429).Inc()
	m.Inferences("vllm").Inc()
	m.InferencesByHealth("healthy").Inc()
	m.Turnstile(Leased)
	m.ForwardFailure()
	m.SetExternalEndpoint("10.0.0.7", 8080, "healthy")
	m.Model("@cf/meta/llama-3.1-8b-instruct").SetPermits(4)
	m.Sample()

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetType().String()
	}
	if !maps.Equal(got, contractNames) {
		t.Fatalf("unexpected metric families; got %v; want %v", got, contractNames)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestRegisterTwice checks that a registry refuses a second set (the names
// are taken) and that a nil registerer registers nothing.
func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Fatal("a second New on one registry did not fail")
	}
	if _, err := New(nil, Options{}); err != nil {
		t.Fatalf("nil registerer: %v", err)
	}
}

// TestRequestPathDoesNotAllocate checks every method a request calls, on
// resolved handles and on label sets resolved before.
func TestRequestPathDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	p := m.Model("m")
	p.SetPermits(4)
	inf, healthy := m.Inferences("vllm"), m.InferencesByHealth("healthy")
	m.Errors(3040, 429)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Request(200)
		m.Turnstile(Queued)
		p.Enqueue()
		p.Dequeue()
		p.Acquire()
		inf.Inc()
		healthy.Inc()
		p.Release()
		m.Errors(3040, 429).Inc()   // resolved again: a lookup, no allocation
		m.Inferences("vllm").Inc()  // likewise
		m.Model("m").SetQueueLen(0) // likewise
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations on the request path; got %v; want 0", allocs)
	}
}

// TestConcurrentRequestsAndSampler runs request goroutines, first
// resolutions of label sets, the sampler and scrapes at once (for the race
// detector), then checks the counters exactly and the permits once idle.
func TestConcurrentRequestsAndSampler(t *testing.T) {
	defer goleak.VerifyNone(t)
	m, reg := newMetrics(t)
	const workers, perWorker, models = 8, 2000, 3
	for i := 0; i < models; i++ {
		m.Model("m" + strconv.Itoa(i)).SetPermits(workers)
	}

	ticks := make(chan time.Time)
	m2, err := New(nil, Options{Ticks: ticks}) // a second set, sampled by Run
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { defer bg.Done(); m2.Run(ctx) }()
	go func() { // the sampler of m, and ticks for m2's Run
		defer bg.Done()
		for ctx.Err() == nil {
			m.Sample()
			select {
			case ticks <- time.Time{}:
			case <-ctx.Done():
			}
		}
	}()
	go func() { // scrapes
		defer bg.Done()
		for ctx.Err() == nil {
			if _, err := reg.Gather(); err != nil {
				t.Errorf("gather: %v", err)
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				for _, mm := range []*Metrics{m, m2} {
					p := mm.Model("m" + strconv.Itoa(i%models))
					p.Enqueue()
					mm.Turnstile(Queued)
					p.Dequeue()
					p.Acquire()
					mm.Inferences("backend" + strconv.Itoa(i%5)).Inc() // first resolutions race
					mm.InferencesByHealth("healthy").Inc()
					mm.Errors(uint32(i%4), 500).Inc()
					p.Release()
					mm.Request(200)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	bg.Wait()
	m2.Close()

	m.Sample() // idle now: every permit free, nothing queued
	got := gather(t, reg)
	const n = workers * perWorker
	for k, want := range map[string]float64{
		"readout_server_requests_total{status=200}":                       n,
		"readout_server_turnstile_outcomes_total{outcome=queued}":         n,
		"readout_server_inferences_by_health_total{health_state=healthy}": n,
		"readout_server_inferences_total{backend=backend0}":               n / 5,
		"readout_server_errors_total{http_status=500,internal_code=3}":    n / 4,
		"readout_server_total_permits{model_id=m2}":                       workers,
	} {
		if got[k] != want {
			t.Errorf("%s: got %v; want %v", k, got[k], want)
		}
	}
	for i := 0; i < models; i++ {
		p := m.Model("m" + strconv.Itoa(i))
		if s := p.read(); s != (sample{total: workers}) {
			t.Errorf("model m%d: unexpected state once idle; got %+v; want %d permits, none used, no queue", i, s, workers)
		}
	}
}
