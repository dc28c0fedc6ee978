package collector

import (
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/wire"
)

// maxFuture is how far past its arrival an event time may lie before the
// event is taken to have a broken clock (see docs/input-policy.md). Hosts'
// clocks agree to within seconds; every minute allowed here is a window a
// broken clock can hold open, and at 24 h a single batch opened 1,439.
const maxFuture = 10 * time.Minute

// applyRecord applies one durable WAL record to memory. It is the only path
// from the WAL to state, used both live (after the fsync) and at replay:
//   - the ledger (dedupe and audit) takes records above the checkpoint's
//     applied LSN; below it, the checkpoint already holds them;
//   - a window takes the record's events unless that window was committed
//     to files at or after this record.
//
// live says whether to count metrics: replayed events were counted by the
// process that first accepted them.
func (c *Collector) applyRecord(lsn uint64, payload []byte, live bool) {
	h := &c.scratch.hdr
	frames, err := parseRecordPayload(payload, h)
	if err != nil {
		c.log.Error("skipping malformed wal record", zap.Uint64("lsn", lsn), zap.Error(err))
		return
	}
	ledgerToo := lsn > c.fl.ckptLSN
	arr := ledger.Arrival{Forwarder: h.forwarderID, WallNs: h.arrivalNs, IngestNs: h.ingestNs}
	c.lastIngest = max(c.lastIngest, h.ingestNs)
	if ledgerToo {
		for _, d := range h.dups {
			c.ledger.Duplicate(d.id, int64(d.n), arr)
		}
	}
	if live {
		for _, d := range h.dups {
			c.m.duplicates.Add(float64(d.n))
		}
	}
	ev := &c.scratch.ev
	var t applyTally
	err = wire.Frames(frames, wire.MaxMessageSize, func(frame []byte) error {
		if err := decodeEvent(frame, ev); err != nil {
			return err
		}
		c.applyEvent(ev, lsn, arr, ledgerToo, &t)
		return nil
	})
	if err != nil {
		c.log.Error("malformed event in wal record", zap.Uint64("lsn", lsn), zap.Error(err))
	}
	if live {
		t.count(c.m)
	}
	if lsn > c.applied {
		c.applied = lsn
	}
}

// applyTally counts a record's events for the metrics, which take them once
// per record: a labelled counter per event was 5% of the ingest loop.
type applyTally struct {
	byKind                            [8]int // events per kind of wire.Kinds, by discriminant
	anonymous, closed                 int
	beforeEpoch, future, neurons      int
	unchecked, untracked, floorRaised int
	windowCap, unknown                int
}

func (t *applyTally) count(m *metrics) {
	add := func(c interface{ Add(float64) }, n int) {
		if n > 0 {
			c.Add(float64(n))
		}
	}
	for _, k := range wire.Kinds {
		add(m.events.WithLabelValues(k.String()), t.byKind[k])
	}
	add(m.unknownKind, t.unknown)
	add(m.anonymous, t.anonymous)
	add(m.closed, t.closed)
	add(m.adjusted.WithLabelValues("time_before_epoch"), t.beforeEpoch)
	add(m.adjusted.WithLabelValues("time_future"), t.future)
	add(m.adjusted.WithLabelValues("neurons"), t.neurons)
	add(m.adjusted.WithLabelValues("window_cap"), t.windowCap)
	add(m.undeduped.WithLabelValues("below_floor"), t.unchecked)
	add(m.undeduped.WithLabelValues("emitter_cap"), t.untracked)
	add(m.floorRaised, t.floorRaised)
}

func (c *Collector) applyEvent(ev *wire.Event, lsn uint64, arr ledger.Arrival, ledgerToo bool, t *applyTally) {
	arrivalNs := arr.WallNs
	anon := ev.Anonymous()
	if ev.Kind == wire.KindClosed {
		t.closed++
		if !anon && ledgerToo {
			c.ledger.Close(ev.EmitterID, ev.Seq, ev.DroppedTotal, arr)
		}
		return
	}
	if !anon && ledgerToo {
		out := c.ledger.Accept(ev.EmitterID, ev.Seq, ev.DroppedTotal, arr)
		if out&ledger.Unchecked != 0 {
			t.unchecked++
		}
		if out&ledger.Untracked != 0 {
			t.untracked++
		}
		if out&ledger.FloorRaised != 0 {
			t.floorRaised++
		}
	}
	if anon {
		t.anonymous++
	}
	switch ev.Kind {
	case wire.KindInference, wire.KindLifecycle, wire.KindInstanceState, wire.KindSetupRun, wire.KindPrediction, wire.KindDownload:
		t.byKind[ev.Kind]++
	default:
		// Validation refuses kinds this version does not know, so only a
		// WAL written by a newer version holds one: stored and audited
		// (above), in no table, and said so.
		t.unknown++
		if c.logLimit.Allow("kind", time.Now()) {
			c.log.Error("event of a kind this collector has no table for; counted in events_unknown_kind_total only",
				zap.Uint64("lsn", lsn), zap.Stringer("kind", ev.Kind))
		}
		return
	}
	ts, reason := eventTime(ev.TimestampNs, arrivalNs)
	switch reason {
	case reasonBeforeEpoch:
		t.beforeEpoch++
	case reasonFuture:
		t.future++
	}
	if c.atWindowCap(c.agg.Start(ts)) {
		// Past the cap an event may not open a window of its own: it
		// takes its arrival time, as a broken clock's does, and the
		// totals stay exact (see docs/input-policy.md).
		ts = arrivalNs
		t.windowCap++
	}
	switch ev.Kind {
	case wire.KindLifecycle:
		if ledgerToo { // presences, like the ledger, are in the checkpoint up to its LSN
			c.presences.apply(&ev.Lifecycle, func(p window.Presence) { c.agg.AddPresence(p, ts) })
		}
	case wire.KindInstanceState:
		c.agg.AddInstanceState(&ev.InstanceState, ts)
	case wire.KindSetupRun:
		c.agg.AddSetupRun(&ev.SetupRun, ts)
	case wire.KindPrediction:
		c.agg.AddPrediction(&ev.Prediction, ts)
	case wire.KindDownload:
		c.agg.AddDownload(&ev.Download, ts)
	default:
		neurons, fixed := window.SanitizeNeurons(ev.Inference.Neurons)
		if fixed {
			t.neurons++
		}
		c.agg.Add(&ev.Inference, ts, neurons)
	}
}

const (
	reasonBeforeEpoch = "time_before_epoch"
	reasonFuture      = "time_future"
)

// eventTime applies the timestamp policy: an event time at or before the
// epoch (absent or nonsense) or more than maxFuture past arrival is replaced
// by the arrival time. It returns the reason when it replaced it.
func eventTime(ts, arrivalNs int64) (int64, string) {
	switch {
	case ts <= 0:
		return arrivalNs, reasonBeforeEpoch
	case ts > arrivalNs+int64(maxFuture):
		return arrivalNs, reasonFuture
	}
	return ts, ""
}

func (c *Collector) onOverflow(windowStart int64, model string) {
	c.m.overflowed.Inc()
	if c.logLimit.Allow("overflow", time.Now()) {
		c.log.Warn("aggregation cap reached; keys fold into an overflow key",
			zap.Time("window", time.Unix(0, windowStart).UTC()), zap.String("model_id", model),
			zap.Int("max_groups", c.cfg.MaxGroups), zap.Int("max_models", c.cfg.MaxModels))
	}
}
