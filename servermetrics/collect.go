package servermetrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics' descriptions. The names and labels are contract (the
// design's "Inference-server metrics"): dashboards outside the project
// read them, so they do not change.
var (
	descRequests = desc("requests_total", "Requests answered, by HTTP status code (\"other\" outside 100..599).", "status")
	descErrors   = desc("errors_total", "Requests that failed, by internal error code and the HTTP status answered (\"other\" outside 100..599).",
		"internal_code", "http_status")
	descInferences = desc("inferences_total", "Inferences run, by backend.", "backend")
	descByHealth   = desc("inferences_by_health_total", "Inferences run, by the health state of the endpoint that ran them.", "health_state")
	descTurnstile  = desc("turnstile_outcomes_total", "Requests that needed a permit, by what the turnstile did: leased at once, queued, or rejected.", "outcome")
	descFull       = desc("full_fraction", "Share of the last 600 permit samples (5 minutes) in which the model had no permit available.", "model_id")
	descTotal      = desc("total_permits", "The model's total permits in the latest sample.", "model_id")
	descUsed       = desc("mean_used_permits", "Mean permits in use (total minus available) over the last 600 samples (5 minutes).", "model_id")
	descQueue      = desc("mean_queue_size", "Mean size of the model's local queue over the last 600 samples (5 minutes).", "model_id")
	descForward    = desc("forward_failures_total", "Requests that could not be forwarded to another colo.")
	descRemoved    = desc("endpoints_removed", "Endpoints in backoff, removed from routing until they recover.")
	descExternal   = desc("external_endpoints", "1 for each external endpoint, labelled with its current health.", "host", "port", "health")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("readout_server_"+name, help, labels, nil)
}

// Describe sends the descriptions of every metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descErrors, descInferences, descByHealth, descTurnstile,
		descFull, descTotal, descUsed, descQueue, descForward, descRemoved, descExternal} {
		ch <- d
	}
}

// Collect reads every metric. Request counts appear once non-zero, like a
// CounterVec's children; the turnstile's three outcomes always; a label set
// of Errors, Inferences or InferencesByHealth once resolved; a model's gauges
// once it has a sample.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for code := range m.requests {
		if v := m.requests[code].Load(); v > 0 {
			counter(descRequests, v, statusLabel(code))
		}
	}
	for _, set := range []struct {
		d  *prometheus.Desc
		cs []*Counter
	}{{descErrors, m.errors.counters()}, {descInferences, m.inferences.counters()}, {descByHealth, m.byHealth.counters()}} {
		for _, c := range set.cs {
			counter(set.d, c.n.Load(), c.labels...)
		}
	}
	for o := range numOutcomes {
		counter(descTurnstile, m.turnstile[o].Load(), o.String())
	}
	counter(descForward, m.forwardFailures.Load())
	gauge(descRemoved, float64(m.endpointsOut.Load()))

	// Read the windows under the lock, send after it: a slow scrape does not
	// hold up the sampler.
	var out []prometheus.Metric
	m.mu.Lock()
	for _, p := range m.modelList {
		w := &p.w
		if w.n == 0 {
			continue
		}
		n := float64(w.n)
		out = append(out,
			prometheus.MustNewConstMetric(descFull, prometheus.GaugeValue, float64(w.full)/n, p.id),
			prometheus.MustNewConstMetric(descTotal, prometheus.GaugeValue, float64(w.latest().total), p.id),
			prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(w.used)/n, p.id),
			prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(w.queue)/n, p.id))
	}
	for e, health := range m.endpoints {
		out = append(out, prometheus.MustNewConstMetric(descExternal, prometheus.GaugeValue, 1, e.host, strconv.Itoa(e.port), health))
	}
	m.mu.Unlock()
	for _, metric := range out {
		ch <- metric
	}
}
