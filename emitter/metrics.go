package emitter

import "github.com/prometheus/client_golang/prometheus"

// collector exports the emitter's counters at scrape time, so the hot path
// pays nothing for metrics.
type collector struct {
	e                                        *Emitter
	emitted, sent, dropped, replayed         *prometheus.Desc
	connErrs, writeErrs, ring, queued, acked *prometheus.Desc
}

func newCollector(e *Emitter) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("readout_emitter_"+name, help, labels, nil)
	}
	return &collector{
		e:         e,
		emitted:   d("events_emitted_total", "Events offered to Emit, dropped ones included."),
		sent:      d("events_sent_total", "Events written to the forwarder socket (replays not counted again)."),
		dropped:   d("events_dropped_total", "Events dropped before they were written, by reason.", "reason"),
		replayed:  d("events_replayed_total", "Events re-sent from the replay ring after a reconnect."),
		connErrs:  d("connect_errors_total", "Failed attempts to connect to the forwarder."),
		writeErrs: d("write_errors_total", "Failed writes to the forwarder connection."),
		ring:      d("replay_ring_events", "Written events kept until the forwarder acknowledges them."),
		queued:    d("queued_events", "Events buffered for the writer."),
		acked:     d("acked_seq", "Highest seq the forwarder acknowledged as durable."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.emitted, c.sent, c.dropped, c.replayed, c.connErrs, c.writeErrs, c.ring, c.queued, c.acked} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.emitted, s.Emitted)
	counter(c.sent, s.Sent)
	counter(c.replayed, s.Replayed)
	counter(c.connErrs, s.ConnectErrors)
	counter(c.writeErrs, s.WriteErrors)
	r := s.DroppedByReason
	for _, kv := range []struct {
		r reason
		v uint64
	}{
		{reasonBufferFull, r.BufferFull}, {reasonDisconnected, r.Disconnected}, {reasonRingFull, r.RingFull},
		{reasonTooLarge, r.TooLarge}, {reasonInvalid, r.Invalid}, {reasonClosed, r.Closed}, {reasonCloseTimeout, r.CloseTimeout},
	} {
		counter(c.dropped, kv.v, kv.r.String())
	}
	ch <- prometheus.MustNewConstMetric(c.ring, prometheus.GaugeValue, float64(s.RingOccupancy))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.acked, prometheus.GaugeValue, float64(s.AckedSeq))
}
