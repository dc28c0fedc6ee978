package collector

import (
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/wal"
	"github.com/readout-dev/readout/wire"
)

// request is one decoded, validated batch waiting for the ingest loop.
// Everything in it aliases the request body, which the handler keeps alive
// until it has the verdict.
type request struct {
	batch  wire.Batch
	events []eventID // what dedupe needs of each event, aligned with frames
	frames [][]byte
	status chan int  // the HTTP status to answer
	bufs   [2][]byte // pooled buffers the frames alias: the body and its decompressed form
}

// release returns the request's buffers to the pool. Only after the verdict:
// until then the ingest loop may read the frames.
func (r *request) release() {
	putBody(r.bufs[0])
	putBody(r.bufs[1])
	r.bufs = [2][]byte{}
	clear(r.frames)
}

// eventID is the part of a decoded event the ingest loop dedupes on. The
// handler keeps only this, not whole decoded events, so that a body of tiny
// events cannot make the collector hold ten times the body in memory.
type eventID struct {
	emitter [16]byte
	seq     uint64
	kind    wire.Kind
}

// maxGroup bounds the batches one group commit takes, so one fsync never
// waits on an unbounded amount of writing.
const maxGroup = 256

// maxScratch is the largest scratch buffer the loop keeps between groups.
// A group of 8 full 1 MiB batches (--ship-concurrency 8) must fit: at 8 MiB
// the buffer was dropped and regrown by doubling after every such group,
// and growslice's copying and zeroing took a quarter of the collector's CPU
// in a 3M-event profile.
const maxScratch = 32 << 20

// loop is the single owner of the WAL, ledger and windows. It takes every
// batch queued so far as one group (one fsync for all), and on a timer hands
// closable windows to a flusher goroutine (see flush.go), ingesting on while
// their files are written.
func (c *Collector) loop() {
	defer close(c.done)
	tick := time.NewTicker(c.cfg.FlushInterval)
	defer tick.Stop()
	group := make([]*request, 0, maxGroup)
	for {
		select {
		case r := <-c.queue:
			group = c.gather(append(group[:0], r))
			c.commitGroup(group)
		case <-tick.C:
			if _, err := c.startFlush(false); err != nil && c.logLimit.allow("flush", time.Now()) {
				c.log.Error("cannot start a flush; windows stay in memory and are retried", zap.Error(err))
			}
		case res := <-c.flushDone:
			c.finishFlush(res)
		case reply := <-c.flushNow:
			reply <- c.flushSync(false)
		case <-c.stop:
			// Handlers can no longer enqueue: take what is queued, then
			// write every window out.
			for len(c.queue) > 0 {
				group = c.gather(group[:0])
				c.commitGroup(group)
			}
			c.shutdownErr = c.flushSync(true)
			return
		}
	}
}

// Flush writes the windows that are closable now, as the timer would, and
// returns when they are committed. It must not be called after Shutdown.
func (c *Collector) Flush() error {
	reply := make(chan error, 1)
	c.flushNow <- reply
	return <-reply
}

func (c *Collector) gather(group []*request) []*request {
	for len(group) < maxGroup {
		select {
		case r := <-c.queue:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// commitGroup dedupes the group's events against committed state and against
// each other, appends one WAL record per batch with what it accepted, fsyncs
// once, and only then applies the records and acknowledges every batch.
func (c *Collector) commitGroup(group []*request) {
	now := c.cfg.Now().UnixNano()
	clear(c.pending)
	// Size the buffer for the whole group at once: growing it by doubling
	// copies every byte again and again.
	need := 0
	for _, r := range group {
		need += wal.HeaderSize + recordFixed + 20*len(r.events) + len(r.batch.Events)
	}
	buf := slices.Grow(c.walBuf[:0], need)
	lsn := c.applied
	for _, r := range group {
		frames := c.frames[:0]
		clear(c.dups)
		for i := range r.events {
			ev := &r.events[i]
			if ev.kind != wire.KindClosed && ev.emitter != ([16]byte{}) {
				k := seqKey{ev.emitter, ev.seq}
				if _, dup := c.pending[k]; dup || c.ledger.Seen(ev.emitter, ev.seq) {
					c.dups[ev.emitter]++
					continue
				}
				c.pending[k] = struct{}{}
			}
			frames = append(frames, r.frames[i])
		}
		c.hdr = recordHeader{forwarderID: r.batch.ForwarderID, batchSeq: r.batch.BatchSeq, arrivalNs: now, dups: c.hdr.dups[:0]}
		for id, n := range c.dups {
			c.hdr.dups = append(c.hdr.dups, dupCount{id, n})
		}
		lsn++
		var at int
		buf, at = wal.BeginRecord(buf)
		buf = appendRecordPayload(buf, &c.hdr, frames)
		buf = wal.FinishRecord(buf, at, lsn)
		clear(frames) // do not keep request bodies alive
		c.frames = frames[:0]
	}
	// Keep scratch buffers for the next group unless a burst made them
	// huge: the loop should not hold hundreds of MiB while idle.
	c.walBuf = buf
	if cap(c.walBuf) > maxScratch {
		defer func() { c.walBuf = nil }()
	}
	c.m.groupBatches.Observe(float64(len(group)))
	start := c.wal.Size()
	segment := c.wal.ActiveSegment()
	if err := c.wal.Commit(buf, lsn); err != nil {
		c.m.walErrors.Inc()
		if c.logLimit.allow("wal", time.Now()) {
			c.log.Error("wal commit failed; answering 503", zap.String("segment", segment),
				zap.Int64("offset", start), zap.Int("batches", len(group)), zap.Error(err))
		}
		if c.wal.Broken() {
			c.ready.Store(false) // /readyz: this process takes no more input
		}
		for _, r := range group {
			r.status <- http.StatusServiceUnavailable
		}
		return
	}
	c.m.walBytes.Add(float64(len(buf)))
	c.m.walFsyncs.Inc()
	c.crash(CrashAfterWALAppend)
	// Apply exactly what was made durable, through the same code replay
	// uses, so memory after a crash is memory without one.
	b := buf
	for _, r := range group {
		l, payload, size, err := wal.ParseRecord(b)
		if err != nil {
			// Our own bytes, just written; replay would fail the same way.
			c.log.Error("re-reading a committed record", zap.Error(err))
			r.status <- http.StatusInternalServerError
			continue
		}
		c.applyRecord(l, payload, true)
		b = b[size:]
		r.status <- http.StatusOK
	}
	c.updateGauges()
}
