package forwarder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/readout-dev/readout/forwarder/spool"
)

const ns = "readout_forwarder"

// metrics are the forwarder's Prometheus series, registered into the
// registerer New is given.
type metrics struct {
	eventsReceived   prometheus.Counter
	closedReceived   prometheus.Counter
	anonymous        prometheus.Counter
	bytesReceived    prometheus.Counter
	malformed        *prometheus.CounterVec
	connsRejected    *prometheus.CounterVec
	connsClosed      *prometheus.CounterVec
	connections      prometheus.Gauge
	readBufferBytes  prometheus.Gauge
	acksSent         prometheus.Counter
	acksDropped      prometheus.Counter
	eventsSpooled    prometheus.Counter
	batchesSealed    prometheus.Counter
	spoolSyncs       prometheus.Counter
	spoolErrors      prometheus.Counter
	batchesShipped   prometheus.Counter
	eventsShipped    prometheus.Counter
	shipRetries      *prometheus.CounterVec
	quarantined      prometheus.Counter
	oversized        prometheus.Counter
	batchesSplit     prometheus.Counter
	inFlight         prometheus.Gauge
	syncSeconds      prometheus.Histogram
	shipSeconds      prometheus.Histogram
	backpressureTime prometheus.Counter
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
}

func newMetrics(reg prometheus.Registerer, sp *spool.Spool) *metrics {
	m := &metrics{
		eventsReceived: counter("events_received_total", "Valid event messages read from emitter connections (closed messages excluded)."),
		closedReceived: counter("closed_messages_received_total", "Emitter closed messages read (they end an emitter's audit; not events)."),
		anonymous:      counter("anonymous_events_received_total", "Valid events without an emitter id; they cannot be acknowledged or deduplicated."),
		bytesReceived:  counter("received_bytes_total", "Bytes of valid frames read from emitter connections."),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "malformed_frames_total",
			Help: "Malformed frames, each of which closed its connection, by reason."}, []string{"reason"}),
		connsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_rejected_total",
			Help: "Connections closed at accept, by reason (max_conns, peer_uid)."}, []string{"reason"}),
		connsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_closed_total",
			Help: "Connections ended, by reason (eof, idle_timeout, frame_timeout, malformed, error, shutdown)."}, []string{"reason"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections",
			Help: "Open emitter connections."}),
		readBufferBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "read_buffer_bytes",
			Help: "Bytes held by connection read buffers."}),
		acksSent:      counter("acks_sent_total", "Acknowledgements written to emitters."),
		acksDropped:   counter("acks_dropped_total", "Acknowledgements abandoned because the peer did not read them in time."),
		eventsSpooled: counter("events_spooled_total", "Event messages made durable in the spool (then acknowledged)."),
		batchesSealed: counter("batches_sealed_total", "Batches sealed into the spool."),
		spoolSyncs:    counter("spool_syncs_total", "Group-commit fsyncs of the spool."),
		spoolErrors:   counter("spool_write_errors_total", "Failed spool appends or syncs (retried)."),
		batchesShipped: counter("batches_shipped_total",
			"Batches acknowledged by the collector."),
		eventsShipped: counter("events_shipped_total", "Event messages in batches acknowledged by the collector."),
		shipRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ship_retries_total",
			Help: "Failed batch deliveries that will be retried, by reason."}, []string{"reason"}),
		quarantined: counter("batches_quarantined_total", "Batches the collector rejected as malformed, moved to the spool's quarantine."),
		oversized: counter("oversized_events_total", "Spooled events above the collector's per-event limit (sealed by a version that allowed a larger "+
			"--max-message-size), moved to the spool's quarantine so that the rest of their batch ships."),
		batchesSplit: counter("batches_split_total", "Batches the collector found too large, replaced by two sealed halves."),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "ship_in_flight_batches",
			Help: "Batches being delivered to the collector."}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "spool_sync_duration_seconds",
			Help: "Time of one spool group commit (append and fsync).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		shipSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ship_request_duration_seconds",
			Help: "Time of one batch POST to the collector.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		backpressureTime: counter("spool_full_wait_seconds_total", "Time spent waiting for space in a full spool (reads from emitters pause)."),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.eventsReceived, m.closedReceived, m.anonymous, m.bytesReceived, m.malformed,
		m.connsRejected, m.connsClosed, m.connections, m.readBufferBytes, m.acksSent, m.acksDropped,
		m.eventsSpooled, m.batchesSealed, m.spoolSyncs, m.spoolErrors, m.batchesShipped, m.eventsShipped,
		m.shipRetries, m.quarantined, m.oversized, m.batchesSplit, m.inFlight, m.syncSeconds, m.shipSeconds, m.backpressureTime)
	stat := func(f func(spool.Stats) float64) func() float64 {
		return func() float64 { return f(sp.Stats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_bytes", Help: "Bytes of spool segment files on disk."},
			stat(func(s spool.Stats) float64 { return float64(s.Bytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_segments", Help: "Spool segment files, the active one included."},
			stat(func(s spool.Stats) float64 { return float64(s.Segments) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_pending_batches", Help: "Batches in the spool not yet acknowledged by the collector."},
			stat(func(s spool.Stats) float64 { return float64(s.Pending) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_full", Help: "1 while the spool is at its size cap (acknowledgements and reads pause)."},
			stat(func(s spool.Stats) float64 {
				if s.Full {
					return 1
				}
				return 0
			})),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_torn_tails_total", Help: "Torn segment tails truncated at open (interrupted writes after a crash)."},
			stat(func(s spool.Stats) float64 { return float64(s.TornTails) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_corrupt_segments_total", Help: "Corrupt spool segments moved to quarantine."},
			stat(func(s spool.Stats) float64 { return float64(s.CorruptSegments) })),
	)
	return m
}
