package forwarder

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/forwarder/spool"
)

// ackRef says where a batch's frames came from (an emitter connection, or
// a source inside the process: local.go) and how far they reach, so the
// writer can acknowledge once the batch is durable.
type ackRef struct {
	cs acker
	chunkMeta
}

// acker is told by the spool writer, on its goroutine, that frames it was
// handed are durable: events up to seq when hasSeq, and the closed message
// when closed. It must not block.
type acker interface {
	advance(seq uint64, hasSeq, closed bool)
}

// batch is an unsealed batch: frames back to back, ready to spool. Its data
// lies in a spool block (spool.NewBuffer), which the spool's handoff keeps
// rather than copies when it takes the batch for the shipper.
type batch struct {
	data  []byte
	mem   *[]byte
	count uint32
	acks  []ackRef
}

// freeBatches keeps batches for reuse. It is not a sync.Pool: that is
// emptied by garbage collections, and a new batch's megabyte is then zeroed
// and faulted in again page by page.
var freeBatches = make(chan *batch, 16)

func newBatch(capacity int) *batch {
	var b *batch
	select {
	case b = <-freeBatches:
	default:
		b = new(batch)
	}
	if b.mem == nil || cap(b.data) < capacity {
		spool.FreeBuffer(b.mem)
		b.data, b.mem = spool.NewBuffer(capacity)
	}
	return b
}

func recycleBatch(b *batch) {
	b.data, b.count = b.data[:0], 0
	clear(b.acks)
	b.acks = b.acks[:0]
	select {
	case freeBatches <- b:
	default:
		spool.FreeBuffer(b.mem)
	}
}

// batcher gathers the runs of frames connections hand on into batches. A
// connection appends straight from its read buffer under the lock, so each
// byte is copied once on its way to the spool, and no goroutine sits
// between the connections and the spool writer. A batch is sealed when the
// next run would take it past a limit, when it reaches one, or when its
// first run has waited the linger time.
type batcher struct {
	maxEvents, maxBytes int
	linger              time.Duration
	out                 chan<- *batch

	mu      sync.Mutex
	cur     *batch
	started time.Time // when cur got its first run
	timer   *time.Timer
	closed  bool
}

func newBatcher(cfg Config, out chan<- *batch) *batcher {
	bt := &batcher{maxEvents: cfg.BatchMaxEvents, maxBytes: cfg.BatchMaxBytes, linger: cfg.BatchLinger, out: out}
	bt.timer = time.AfterFunc(time.Hour, bt.expire)
	bt.timer.Stop()
	return bt
}

// add appends a run of whole frames from cs (a connection, or a local
// source). Under backpressure (the spool writer is behind, the spool full)
// it blocks, and so every connection stops reading.
func (bt *batcher) add(cs acker, frames []byte, meta chunkMeta) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.cur != nil && (int(bt.cur.count)+int(meta.events) > bt.maxEvents || len(bt.cur.data)+len(frames) > bt.maxBytes) {
		bt.sealLocked()
	}
	if bt.cur == nil {
		bt.cur = newBatch(bt.maxBytes)
		bt.started = time.Now()
		bt.timer.Reset(bt.linger)
	}
	bt.cur.data = append(bt.cur.data, frames...)
	bt.cur.count += meta.events
	bt.cur.acks = append(bt.cur.acks, ackRef{cs: cs, chunkMeta: meta})
	if int(bt.cur.count) >= bt.maxEvents || len(bt.cur.data) >= bt.maxBytes {
		bt.sealLocked()
	}
}

// expire seals the current batch once its linger time has passed. A timer
// that fires for a batch already sealed by size finds a younger batch and
// waits for the rest of that one's linger time instead.
func (bt *batcher) expire() {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.cur == nil || bt.closed {
		return
	}
	if left := bt.linger - time.Since(bt.started); left > 0 {
		bt.timer.Reset(left)
		return
	}
	bt.sealLocked()
}

func (bt *batcher) sealLocked() {
	if bt.cur != nil {
		bt.out <- bt.cur
		bt.cur = nil
	}
	bt.timer.Stop()
}

// close seals what is left and closes the output. Every add must have
// returned.
func (bt *batcher) close() {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.sealLocked()
	bt.closed = true
	close(bt.out)
}

// maxGroup bounds how many sealed batches one fsync covers.
const maxGroup = 32

// runWriter appends sealed batches to the spool and makes them durable
// with one fsync per group (group commit), then acknowledges every
// connection whose frames the group held. When the spool is full it waits,
// and the batcher and the connections behind it stop reading. If ctx ends
// first, the rest is dropped unacknowledged: emitters will replay it.
func (f *Forwarder) runWriter(ctx context.Context, in <-chan *batch) {
	group := make([]*batch, 0, maxGroup)
	for b := range in {
		group = append(group[:0], b)
	gather:
		for len(group) < maxGroup {
			select {
			case b2, ok := <-in:
				if !ok {
					break gather
				}
				group = append(group, b2)
			default:
				break gather
			}
		}
		f.commit(ctx, group)
		for _, b := range group {
			recycleBatch(b)
		}
	}
}

func (f *Forwarder) commit(ctx context.Context, group []*batch) {
	start := time.Now()
	synced := 0
	for i := 0; i < len(group); {
		b := group[i]
		_, kept, err := f.sp.AppendBlock(time.Now().UnixNano(), b.count, b.data, b.mem, false)
		if kept {
			// The handoff keeps the memory for the shipper; the batch
			// itself is done with it (acks and count are all that is
			// used from here on).
			b.data, b.mem = nil, nil
		}
		switch {
		case err == nil:
			i++
			continue
		case errors.Is(err, spool.ErrFull):
			if i > synced {
				if !f.syncAndAck(ctx, group[synced:i], start) {
					return
				}
				synced = i
			}
			waitStart := time.Now()
			if f.fullLog.Allow(time.Now()) {
				f.log.Warn("spool full; pausing reads and acknowledgements until batches ship")
			}
			err = f.sp.WaitSpace(ctx, len(b.data))
			f.m.backpressureTime.Add(time.Since(waitStart).Seconds())
			start = time.Now()
			if err != nil {
				return
			}
		default:
			f.m.spoolErrors.Inc()
			if f.diskLog.Allow(time.Now()) {
				f.log.Error("spool append failed; retrying every second (logged once a minute; readout_forwarder_spool_write_errors_total counts each)", zap.Error(err))
			}
			if !sleepCtx(ctx, time.Second) {
				return
			}
		}
	}
	f.syncAndAck(ctx, group[synced:], start)
}

// syncAndAck fsyncs the spool, retrying until it succeeds, and then
// acknowledges the batches' frames to their connections.
func (f *Forwarder) syncAndAck(ctx context.Context, group []*batch, start time.Time) bool {
	if len(group) == 0 {
		return true
	}
	for {
		err := f.sp.Sync()
		if err == nil {
			break
		}
		f.m.spoolErrors.Inc()
		if f.diskLog.Allow(time.Now()) {
			f.log.Error("spool sync failed; retrying every second (logged once a minute)", zap.Error(err))
		}
		if !sleepCtx(ctx, time.Second) {
			return false
		}
	}
	f.m.spoolSyncs.Inc()
	f.m.syncSeconds.Observe(time.Since(start).Seconds())
	for _, b := range group {
		f.m.batchesSealed.Inc()
		f.m.eventsSpooled.Add(float64(b.count))
		for _, a := range b.acks {
			a.cs.advance(a.seq, a.hasSeq, a.closed)
		}
	}
	return true
}

// sleepCtx sleeps for d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
