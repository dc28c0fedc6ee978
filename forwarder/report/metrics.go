package report

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/readout-dev/readout/wire"
)

// metrics are the report server's series, registered into the forwarder's
// registry beside its own (readout_forwarder_report_*).
type metrics struct {
	requests *prometheus.CounterVec
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	unmapped prometheus.Counter
	durable  prometheus.Histogram
}

// Paths, and the path label of anything else.
const (
	PathInstanceState   = "/v1/instance-state"
	PathSetupRun        = "/v1/setup-run"
	PathDownloadMetrics = "/v1/download-metrics"
	otherPath           = "other"
)

var kinds = []wire.Kind{wire.KindInstanceState, wire.KindSetupRun, wire.KindDownload}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "readout_forwarder", "report"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests to --report-addr, by path (\"other\" for unknown paths) and status code."}, []string{"path", "code"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_accepted_total",
			Help: "Reports made durable in the spool (then answered 200), by event kind."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Requests answered with an error, by reason."}, []string{"reason"}),
		unmapped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "setup_status_unmapped_total",
			Help: "Setup runs whose status word has no enumerant in the schema, stored as unknown."}),
		durable: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "durable_wait_seconds",
			Help:    "Time from a report's arrival to its event being fsynced in the spool.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	for _, k := range kinds {
		m.accepted.WithLabelValues(k.String())
	}
	for _, r := range allReasons {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.accepted, m.rejected, m.unmapped, m.durable)
	}
	return m
}

// pathLabel keeps the path label to the served paths.
func pathLabel(p string) string {
	switch p {
	case PathInstanceState, PathSetupRun, PathDownloadMetrics:
		return p
	}
	return otherPath
}
