package collector

import "github.com/prometheus/client_golang/prometheus"

// ckptMetrics are the checkpoint's series: its size and what encoding it
// costs the ingest loop, which stops taking batches meanwhile.
type ckptMetrics struct {
	bytes         prometheus.Gauge
	encodeSeconds prometheus.Histogram
	writeSeconds  prometheus.Histogram
}

func newCkptMetrics(reg prometheus.Registerer) *ckptMetrics {
	const ns, sub = "readout", "collector"
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 14) // 0.5 ms to 4 s
	m := &ckptMetrics{
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoint_bytes", Help: "Size of the last committed checkpoint."}),
		encodeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoint_encode_seconds", Help: "Time the ingest loop spent encoding a checkpoint (ledger and open windows).",
			Buckets: buckets}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoint_write_seconds", Help: "Time the flusher spent writing and syncing a checkpoint file.",
			Buckets: buckets}),
	}
	reg.MustRegister(m.bytes, m.encodeSeconds, m.writeSeconds)
	return m
}
