package collector

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collector's Prometheus series, all prefixed
// readout_collector_.
type metrics struct {
	batches         *prometheus.CounterVec // by HTTP status code
	events          *prometheus.CounterVec // accepted, by kind
	duplicates      prometheus.Counter
	anonymous       prometheus.Counter
	closed          prometheus.Counter
	rejected        *prometheus.CounterVec // events in rejected batches, by reason
	adjusted        *prometheus.CounterVec // accepted events with a field clamped, by reason
	walBytes        prometheus.Counter
	walFsyncs       prometheus.Counter
	walErrors       prometheus.Counter
	walTorn         prometheus.Counter
	walQuarantined  prometheus.Counter
	walSegments     prometheus.Gauge
	replayed        prometheus.Counter
	openWindows     prometheus.Gauge
	activeGroups    prometheus.Gauge
	overflowed      prometheus.Counter
	filesWritten    prometheus.Counter
	flushErrors     prometheus.Counter
	checkpoints     prometheus.Counter
	emitters        prometheus.Gauge
	emittersExpired prometheus.Counter
	groupBatches    prometheus.Histogram
	undeduped       *prometheus.CounterVec // counted without a dedupe check, by reason
	floorRaised     prometheus.Counter
	unknownKind     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "readout", "collector"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{label})
	}
	m := &metrics{
		batches:         vec("batches_total", "Batches answered, by HTTP status code.", "code"),
		events:          vec("events_accepted_total", "Events accepted and counted once, by kind.", "kind"),
		duplicates:      counter("events_duplicate_total", "Events acknowledged but not counted because (emitter id, seq) was already counted."),
		anonymous:       counter("events_anonymous_total", "Accepted events without an emitter id (counted, never deduplicated or audited)."),
		closed:          counter("closed_messages_total", "Emitters' final messages received."),
		rejected:        vec("events_rejected_total", "Malformed events that made their batch be rejected, by reason.", "reason"),
		adjusted:        vec("events_adjusted_total", "Accepted events with a field clamped by policy, by reason.", "reason"),
		walBytes:        counter("wal_written_bytes_total", "Bytes appended to the write-ahead log."),
		walFsyncs:       counter("wal_fsyncs_total", "Write-ahead log fsyncs (one per group commit)."),
		walErrors:       counter("wal_errors_total", "Failed write-ahead log commits (their batches were answered 503)."),
		walTorn:         counter("wal_torn_tails_total", "Torn records truncated from the write-ahead log at start."),
		walQuarantined:  counter("wal_quarantined_segments_total", "Corrupt write-ahead log segments copied to quarantine and cut at the damage."),
		walSegments:     gauge("wal_segments", "Write-ahead log segment files."),
		replayed:        counter("wal_replayed_records_total", "Write-ahead log records replayed at start."),
		openWindows:     gauge("open_windows", "Event-time windows held in memory."),
		activeGroups:    gauge("active_groups", "Aggregate groups held in memory across open windows."),
		overflowed:      counter("overflowed_events_total", "Events folded into an overflow key by the --max-groups or --max-models cap."),
		filesWritten:    counter("files_written_total", "Parquet files committed."),
		flushErrors:     counter("flush_errors_total", "Failed flushes (windows kept in memory and retried)."),
		checkpoints:     counter("checkpoints_total", "State checkpoints committed."),
		emitters:        gauge("emitters", "Emitters tracked for deduplication and audit."),
		emittersExpired: counter("emitters_expired_total", "Emitters forgotten after --dedupe-ttl without arrivals."),
		groupBatches: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "group_commit_batches",
			Help: "Batches per write-ahead log group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
	}
	m.undeduped = vec("events_undeduped_total", "Events counted without a dedupe check (any may be a re-delivery): below_floor, in a stretch the range cap made the collector stop checking; emitter_cap, from emitters past --max-emitters or --max-emitters-per-forwarder.", "reason")
	m.floorRaised = counter("dedupe_floor_raised_total", "Times an emitter's oldest seq range was forgotten at the range cap because no reported drop explained the gap after it.")
	m.unknownKind = counter("events_unknown_kind_total", "Events in the WAL of a kind this collector version has no table for (written by a newer version): stored and audited, in no table.")
	for _, reason := range []string{"below_floor", "emitter_cap"} {
		m.undeduped.WithLabelValues(reason)
	}
	// Known series start at zero, so rates work from the first scrape.
	for _, code := range []string{"200", "400", "401", "405", "413", "415", "503"} {
		m.batches.WithLabelValues(code)
	}
	for _, kind := range []string{"inference", "lifecycle"} {
		m.events.WithLabelValues(kind)
	}
	for _, reason := range []string{"time_before_epoch", "time_future", "neurons", "window_cap"} {
		m.adjusted.WithLabelValues(reason)
	}
	reg.MustRegister(m.batches, m.events, m.duplicates, m.anonymous, m.closed, m.rejected, m.adjusted,
		m.walBytes, m.walFsyncs, m.walErrors, m.walTorn, m.walQuarantined, m.walSegments, m.replayed,
		m.openWindows, m.activeGroups, m.overflowed, m.filesWritten, m.flushErrors, m.checkpoints,
		m.emitters, m.emittersExpired, m.groupBatches, m.undeduped, m.floorRaised, m.unknownKind)
	return m
}
