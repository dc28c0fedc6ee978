package collector

import (
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
	batch   wire.Batch
	events  []eventID // what dedupe needs of each event, aligned with frames
	frames  [][]byte
	verdict chan Verdict // the ingest loop's answer
	bufs    [2][]byte    // pooled buffers the frames alias: the body and its decompressed form
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
		case r := <-c.intake.queue:
			group = c.gather(append(group[:0], r))
			c.commitGroup(group)
		case <-tick.C:
			c.startTimedFlush()
		case res := <-c.fl.flushDone:
			c.finishFlush(res)
		case reply := <-c.flushNow:
			reply <- c.flushSync(false)
		case <-c.stop:
			// Handlers can no longer enqueue: take what is queued, then
			// write every window out.
			for len(c.intake.queue) > 0 {
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
		case r := <-c.intake.queue:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// maxChain bounds how long the loop keeps pipelining group commits under
// steady load before it returns to its other work (flush ticks,
// checkpoints, shutdown), none of which may run while a commit is in
// flight: they use the WAL too.
const maxChain = 50 * time.Millisecond

// stagedGroup is a group whose WAL records are built and being committed
// by another goroutine.
type stagedGroup struct {
	group   []*request
	buf     []byte
	lastLSN uint64
	pending map[seqKey]struct{} // its accepted (emitter, seq): not in the ledger until applied
	start   int64               // WAL offset and segment it is written at, for the error log
	segment string
	done    chan error
}

// commitGroup commits group and then, while batches keep arriving, the
// groups after it, two at a time: the next group's records are built and
// written and fsynced by another goroutine while this one applies the
// group before it. The fsync wait and the write syscall thus overlap the
// apply work instead of adding to it; a profile under sustained load had
// the single loop waiting on them with a CPU idle. Each group is still
// applied and acknowledged only after its own fsync, in WAL order, and the
// WAL is never used by anything else while a commit is in flight.
func (c *Collector) commitGroup(group []*request) {
	began := time.Now()
	cur := c.stage(group, c.applied, 0, nil)
	for k := 1; ; k++ {
		err := <-cur.done
		if err != nil {
			c.commitFailed(cur, err)
			return // nothing was staged behind it
		}
		c.m.walBytes.Add(float64(len(cur.buf)))
		c.m.walFsyncs.Inc()
		c.crash(CrashAfterWALAppend)
		var next *stagedGroup
		if time.Since(began) < maxChain {
			more := c.gather(c.scratch.groups[k%2][:0])
			c.scratch.groups[k%2] = more
			if len(more) > 0 {
				next = c.stage(more, cur.lastLSN, k%2, cur.pending)
			}
		}
		c.apply(cur)
		if next == nil {
			c.updateGauges()
			return
		}
		cur = next
	}
}

// stage dedupes group's events against the ledger, against each other and
// against inflight (the accepted events of the group committed before it,
// not yet applied), builds one WAL record per batch with what it accepted,
// numbered after base, and starts committing them. slot picks the scratch
// buffers, which alternate between the two groups a chain holds.
func (c *Collector) stage(group []*request, base uint64, slot int, inflight map[seqKey]struct{}) *stagedGroup {
	wall := c.cfg.Now() // one reading for both clocks the record carries
	now, ingestNow := wall.UnixNano(), c.ingest.at(wall)
	pending := c.scratch.pending[slot]
	clear(pending)
	// Size the buffer for the whole group at once: growing it by doubling
	// copies every byte again and again.
	need := 0
	for _, r := range group {
		need += wal.HeaderSize + recordFixed + 20*len(r.events) + len(r.batch.Events)
	}
	buf := slices.Grow(c.scratch.walBufs[slot][:0], need)
	lsn := base
	for _, r := range group {
		frames := c.scratch.frames[:0]
		clear(c.scratch.dups)
		for i := range r.events {
			ev := &r.events[i]
			if ev.kind != wire.KindClosed && ev.emitter != ([16]byte{}) {
				k := seqKey{ev.emitter, ev.seq}
				_, dup := pending[k]
				if !dup {
					_, dup = inflight[k]
				}
				if dup || c.ledger.Seen(ev.emitter, ev.seq) {
					c.scratch.dups[ev.emitter]++
					continue
				}
				pending[k] = struct{}{}
			}
			frames = append(frames, r.frames[i])
		}
		c.scratch.hdr = recordHeader{forwarderID: r.batch.ForwarderID, batchSeq: r.batch.BatchSeq, arrivalNs: now, ingestNs: ingestNow, dups: c.scratch.hdr.dups[:0]}
		for id, n := range c.scratch.dups {
			c.scratch.hdr.dups = append(c.scratch.hdr.dups, dupCount{id, n})
		}
		lsn++
		var at int
		buf, at = wal.BeginRecord(buf)
		buf = appendRecordPayload(buf, &c.scratch.hdr, frames)
		buf = wal.FinishRecord(buf, at, lsn)
		clear(frames) // do not keep request bodies alive
		c.scratch.frames = frames[:0]
	}
	// Keep scratch buffers for the next group unless a burst made them
	// huge: the loop should not hold hundreds of MiB while idle.
	c.scratch.walBufs[slot] = buf
	if cap(buf) > maxScratch {
		c.scratch.walBufs[slot] = nil
	}
	c.m.groupBatches.Observe(float64(len(group)))
	sg := &stagedGroup{group: group, buf: buf, lastLSN: lsn, pending: pending,
		start: c.wal.Size(), segment: c.wal.ActiveSegment(), done: make(chan error, 1)}
	go func() { sg.done <- c.wal.Commit(buf, lsn) }()
	return sg
}

// apply applies exactly what was made durable, through the same code
// replay uses, so memory after a crash is memory without one, and then
// acknowledges every batch of the group.
func (c *Collector) apply(sg *stagedGroup) {
	b := sg.buf
	for _, r := range sg.group {
		l, payload, size, err := wal.ParseRecord(b)
		if err != nil {
			// Our own bytes, just written; replay would fail the same way.
			c.log.Error("re-reading a committed record", zap.Error(err))
			r.verdict <- Failed
			continue
		}
		c.applyRecord(l, payload, true)
		b = b[size:]
		r.verdict <- Stored
	}
	clear(sg.group) // do not keep requests alive
}

// commitFailed answers every batch of a group whose commit failed with 503
// (the forwarder retries it); its events were never applied.
func (c *Collector) commitFailed(sg *stagedGroup, err error) {
	c.m.walErrors.Inc()
	if c.logLimit.Allow("wal", time.Now()) {
		c.log.Error("wal commit failed; answering 503", zap.String("segment", sg.segment),
			zap.Int64("offset", sg.start), zap.Int("batches", len(sg.group)), zap.Error(err))
	}
	if c.wal.Broken() {
		c.ready.Store(false) // /readyz: this process takes no more input
	}
	for _, r := range sg.group {
		r.verdict <- Failed
	}
	clear(sg.group)
}
