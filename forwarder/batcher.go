package forwarder

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/forwarder/spool"
)

// ackRef says which connection a batch's frames came from and how far
// they reach, so the writer can acknowledge once the batch is durable.
type ackRef struct {
	cs *connState
	chunkMeta
}

// batch is an unsealed batch: frames back to back, ready to spool.
type batch struct {
	data  []byte
	count uint32
	acks  []ackRef
}

var batchPool sync.Pool

func newBatch(capacity int) *batch {
	if b, ok := batchPool.Get().(*batch); ok {
		return b
	}
	return &batch{data: make([]byte, 0, capacity)}
}

func recycleBatch(b *batch) {
	b.data, b.count = b.data[:0], 0
	clear(b.acks)
	b.acks = b.acks[:0]
	batchPool.Put(b)
}

// runBatcher gathers chunks into batches, sealing one when it would
// exceed the event or byte limit or when the first chunk in it has waited
// the linger time. It closes out when in is closed.
func (f *Forwarder) runBatcher(in <-chan *chunk, out chan<- *batch) {
	defer close(out)
	var cur *batch
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	seal := func() {
		if cur != nil {
			out <- cur
			cur = nil
		}
		linger.Stop()
	}
	for {
		select {
		case ck, ok := <-in:
			if !ok {
				seal()
				return
			}
			if cur != nil && (int(cur.count)+int(ck.events) > f.cfg.BatchMaxEvents || len(cur.data)+len(ck.data) > f.cfg.BatchMaxBytes) {
				seal()
			}
			if cur == nil {
				cur = newBatch(f.cfg.BatchMaxBytes)
				linger.Reset(f.cfg.BatchLinger)
			}
			cur.data = append(cur.data, ck.data...)
			cur.count += ck.events
			cur.acks = append(cur.acks, ackRef{cs: ck.cs, chunkMeta: ck.chunkMeta})
			ck.cs, ck.data = nil, ck.data[:0]
			chunkPool.Put(ck)
			if int(cur.count) >= f.cfg.BatchMaxEvents || len(cur.data) >= f.cfg.BatchMaxBytes {
				seal()
			}
		case <-linger.C:
			seal()
		}
	}
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
		_, err := f.sp.Append(time.Now().UnixNano(), b.count, b.data, false)
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
			if f.fullLog.allow() {
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
			if f.diskLog.allow() {
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
		if f.diskLog.allow() {
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
