// Package servermetrics is the capacity metrics an inference server serves
// on its own /metrics, beside the per-request events its emitter sends
// (constellation-server's Prometheus layer in the seed): requests, errors,
// inferences and turnstile outcomes as counters; per model, how full its
// permits and its queue were over a rolling five minutes; and the state of
// the endpoints it forwards to.
//
// A server creates one Metrics with its own registry, resolves the handles
// it will use on the request path once (Model, Inferences,
// InferencesByHealth), runs Run in a goroutine and calls Close on shutdown.
// See ExampleNew.
//
// # The request path
//
// A request moves atomic counters and nothing else: no lock, no map lookup,
// no allocation. Counters whose label values are known in advance are
// arrays indexed by the value (Request by HTTP status code, Turnstile by
// outcome). Counters whose label values are open strings are handles: a
// *Counter for one label set, a *Model for one model, resolved once and
// kept. Resolving a label set again is also allocation-free (a lock-free
// lookup in a copy-on-write map) but costs a map lookup; only the first
// resolution of a label set takes a lock and allocates.
//
// # The permit buffer
//
// Run takes a sample of every model every SampleInterval (500 ms) into a ring
// of WindowSamples (600) samples: five minutes. A sample is the model's
// total permits, the permits in use (total minus available) and its queue
// size, read from the handle's atomics. The ring keeps integer sums that
// each sample updates in constant time, and the gauges are computed from
// them at scrape time, so they are exact averages of the samples in the
// window, whatever the order of additions. The three values of one sample
// are read one after another, not at one instant; a value out of range (less
// than zero, or more permits available than there are) is clamped.
//
// # Decisions the contract leaves open
//
//   - readout_server_requests_total{status} is labelled by the HTTP status
//     code ("200", "429", "499"), as the seed's "total requests by HTTP
//     status" has it, not by class: a 429 (shed) and a 499 (client gone)
//     call for different actions, and codes are a bounded set. A status
//     outside 100..599 is counted as "other", here and in
//     errors_total's http_status.
//   - readout_server_total_permits is the latest sample's total, not the
//     window's mean: its name, unlike mean_used_permits and
//     mean_queue_size, has no "mean_", and capacity changes in steps that
//     a mean would smear for five minutes. mean_used_permits /
//     total_permits is the window's utilization while capacity was
//     constant over the window.
//   - A sample is full when no permit is available, which includes a model
//     with no permits at all (a request for it could not be leased).
//   - A model's gauges appear once it has one sample; until the window
//     holds 600 they average the samples taken so far.
//   - readout_server_endpoints_removed is a gauge: the seed defines it as
//     the endpoints in backoff now, which rises and falls (and a counter
//     would need the _total suffix the contract's name does not have).
//   - readout_server_external_endpoints{host,port,health} is 1 for each
//     endpoint with its current health, and no series for its other
//     health values: sum by (health) counts endpoints by health.
//   - Label values that are not valid UTF-8 have each bad run replaced by
//     U+FFFD, so a scrape never fails on them.
package servermetrics

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is what the turnstile did with a request that needed a permit.
type Outcome uint8

// The turnstile's outcomes, as the contract names them.
const (
	Leased   Outcome = iota // a permit was free at once
	Queued                  // the request waited for a permit
	Rejected                // the queue was full: turned away
	numOutcomes
)

// String returns the outcome's label value.
func (o Outcome) String() string {
	switch o {
	case Leased:
		return "leased"
	case Queued:
		return "queued"
	case Rejected:
		return "rejected"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// The range of HTTP status codes counted under their own label; others are
// counted as "other", in slot 0.
const (
	minStatus = 100
	maxStatus = 599
)

// Metrics is one server's set of metrics. It is a prometheus.Collector:
// every value is read at scrape time. Its methods are safe for concurrent
// use.
type Metrics struct {
	requests        [maxStatus + 1]atomic.Uint64 // by status code; 0 is "other"
	turnstile       [numOutcomes]atomic.Uint64
	forwardFailures atomic.Uint64
	endpointsOut    atomic.Int64

	errors     labelled[uint64] // internal code << 32 | status slot
	inferences labelled[string]
	byHealth   labelled[string]

	// models is the lock-free view of mu's modelByID, for Model's fast path.
	models atomic.Pointer[map[string]*Model]

	// mu guards the models' registry and windows and the external endpoints.
	// The sampler, Collect and the first Model call for an id take it; the
	// request path never does.
	mu        sync.Mutex
	modelList []*Model
	modelByID map[string]*Model // by label value, to merge ids that read the same
	endpoints map[endpoint]string

	ticks  <-chan time.Time
	runMu  sync.Mutex
	closed bool
	runs   sync.WaitGroup
	stop   chan struct{}
}

// Options configures Metrics. The zero value is the default.
type Options struct {
	// Ticks, when set, drives Run: one Sample per value received, in place
	// of a ticker every SampleInterval. It is a seam for tests.
	Ticks <-chan time.Time
}

type endpoint struct {
	host string
	port int
}

// New returns a server's metrics, registered with reg. A nil reg registers
// nothing: the caller may register the Metrics itself. It fails only when
// reg refuses the metrics (they are registered already).
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	m := &Metrics{
		errors: labelled[uint64]{labelsOf: func(k uint64) []string {
			return []string{strconv.FormatUint(k>>32, 10), statusLabel(int(k & 0xffff))}
		}},
		inferences: labelled[string]{labelsOf: oneLabel},
		byHealth:   labelled[string]{labelsOf: oneLabel},
		modelByID:  map[string]*Model{},
		endpoints:  map[endpoint]string{},
		ticks:      opts.Ticks,
		stop:       make(chan struct{}),
	}
	m.models.Store(&map[string]*Model{})
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("servermetrics: register: %w", err)
		}
	}
	return m, nil
}

// Request counts one request answered with an HTTP status code.
func (m *Metrics) Request(status int) { m.requests[statusSlot(status)].Add(1) }

// statusSlot is a status code's slot: itself within 100..599, else 0.
func statusSlot(status int) int {
	if status < minStatus || status > maxStatus {
		return 0
	}
	return status
}

// statusLabel is a slot's label value.
func statusLabel(slot int) string {
	if slot == 0 {
		return "other"
	}
	return strconv.Itoa(slot)
}

// Turnstile counts one outcome of the turnstile. An unknown outcome is not
// counted.
func (m *Metrics) Turnstile(o Outcome) {
	if o < numOutcomes {
		m.turnstile[o].Add(1)
	}
}

// Errors returns the counter of errors with an internal error code and the
// HTTP status they were answered with ("other" outside 100..599).
func (m *Metrics) Errors(internalCode uint32, httpStatus int) *Counter {
	return m.errors.get(uint64(internalCode)<<32 | uint64(statusSlot(httpStatus)))
}

// Inferences returns the counter of inferences run on a backend (such as
// "vllm", "tgi", "triton").
func (m *Metrics) Inferences(backend string) *Counter { return m.inferences.get(backend) }

// InferencesByHealth returns the counter of inferences run on endpoints in
// a health state (such as "healthy").
func (m *Metrics) InferencesByHealth(state string) *Counter { return m.byHealth.get(state) }

// ForwardFailure counts one request that failed to be forwarded to another
// colo.
func (m *Metrics) ForwardFailure() { m.forwardFailures.Add(1) }

// SetEndpointsRemoved sets the number of endpoints in backoff, removed from
// routing until they recover.
func (m *Metrics) SetEndpointsRemoved(n int) { m.endpointsOut.Store(int64(n)) }

// SetExternalEndpoint records the current health of the external endpoint
// host:port (such as "healthy", "unhealthy"), replacing its previous health.
func (m *Metrics) SetExternalEndpoint(host string, port int, health string) {
	m.mu.Lock()
	m.endpoints[endpoint{label(host), port}] = label(health)
	m.mu.Unlock()
}

// RemoveExternalEndpoint forgets the external endpoint host:port.
func (m *Metrics) RemoveExternalEndpoint(host string, port int) {
	m.mu.Lock()
	delete(m.endpoints, endpoint{label(host), port})
	m.mu.Unlock()
}

// Counter is one label set of a counter, kept by the server and moved on the
// request path.
type Counter struct {
	n      atomic.Uint64
	labels []string
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.n.Add(n) }

// labelled is one counter's label sets: a copy-on-write map read without a
// lock, and, under mu, each counter once by its label values.
type labelled[K comparable] struct {
	labelsOf func(K) []string // valid UTF-8
	fast     atomic.Pointer[map[K]*Counter]
	mu       sync.Mutex
	byLabels map[string]*Counter // by the label values joined
}

func (l *labelled[K]) get(k K) *Counter {
	if p := l.fast.Load(); p != nil {
		if c, ok := (*p)[k]; ok {
			return c
		}
	}
	return l.add(k)
}

// add resolves a key seen for the first time. Two keys whose label values
// read the same (two invalid strings, both made U+FFFD) share a counter,
// so a scrape never holds one series twice.
func (l *labelled[K]) add(k K) *Counter {
	l.mu.Lock()
	defer l.mu.Unlock()
	var old map[K]*Counter
	if p := l.fast.Load(); p != nil {
		old = *p
	}
	if c, ok := old[k]; ok {
		return c
	}
	values := l.labelsOf(k)
	joined := strings.Join(values, "\xff") // 0xff is never in valid UTF-8
	c, ok := l.byLabels[joined]
	if !ok {
		if l.byLabels == nil {
			l.byLabels = map[string]*Counter{}
		}
		c = &Counter{labels: values}
		l.byLabels[joined] = c
	}
	next := make(map[K]*Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = c
	l.fast.Store(&next)
	return c
}

// counters returns every counter once.
func (l *labelled[K]) counters() []*Counter {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Counter, 0, len(l.byLabels))
	for _, c := range l.byLabels {
		out = append(out, c)
	}
	return out
}

func oneLabel(s string) []string { return []string{label(s)} }

// label makes s a valid label value: Prometheus refuses a metric whose
// label value is not UTF-8.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
