package forwarder

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/forwarder/ship"
	"github.com/readout-dev/readout/forwarder/spool"
	"github.com/readout-dev/readout/internal/atomicfile"
	"github.com/readout-dev/readout/wire"
)

// Sender delivers encoded batches for the shipper: *ship.Client over HTTP
// today, a Kafka producer later. The shipper owns retrying, backoff,
// splitting, quarantine and metrics; a Sender only carries one attempt and
// sorts its result into ship's few outcomes. Its contract:
//
//   - Send makes one attempt to deliver body, one encoded wire.Batch (a
//     Cap'n Proto message in stream framing), unchanged (compressing it in
//     transit is fine). It must not retry by itself.
//   - It returns ship.Delivered only once the far end holds the batch
//     durably: the spool then deletes it. A re-sent batch is byte-identical
//     and the far end deduplicates it by (forwarder id, batch seq), so
//     reporting Retry for a batch that did arrive costs a re-send, never a
//     double count.
//   - Anything transient is ship.Retry, with RetryAfter set when the far end
//     asked for a pause; Unauthorized, Malformed and TooLarge mean what
//     ship.Outcome says. Err says why, for the log; Reason is a short metric
//     label.
//   - Send returns promptly once ctx ends (with Retry).
//   - Send must not keep body, or any part of it, after it returns: body is
//     the spooled record's memory and is reused for another batch.
//   - Send is called from ShipConcurrency goroutines at once and must be
//     safe for concurrent use. Close is called once, after the last Send
//     has returned.
type Sender interface {
	Send(ctx context.Context, body []byte) ship.Result
	Close()
}

var _ Sender = (*ship.Client)(nil)

// newSender returns the Sender for cfg.Collector. HTTP is the only
// transport so far; another (kafka://) is chosen here by the URL's scheme.
func newSender(cfg Config) (Sender, error) {
	c, err := ship.New(ship.Options{URL: cfg.Collector, Token: cfg.Token, RootCAs: cfg.RootCAs,
		Compress: cfg.compressBodies(), Timeout: cfg.ShipTimeout})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// runShipper reads sealed batches from the spool in order and delivers
// them with ShipConcurrency goroutines until ctx ends.
func (f *Forwarder) runShipper(ctx context.Context) {
	work := make(chan spool.Record)
	var wg sync.WaitGroup
	for range f.cfg.ShipConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range work {
				f.deliver(ctx, rec)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	for {
		rec, err := f.sp.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Error("spool read failed; shipping stopped", zap.Error(err))
			}
			return
		}
		select {
		case work <- rec:
		case <-ctx.Done():
			return
		}
	}
}

// The Batch header is written into the record's headroom in front of its
// events (see spool.Record.Body), so a batch is sent without copying it.
var _ [spool.Headroom - wire.BatchHeaderSize]struct{}

// deliver sends one batch until the collector takes it, rejects it for
// good, or ctx ends (the batch then stays in the spool).
func (f *Forwarder) deliver(ctx context.Context, rec spool.Record) {
	defer spool.Recycle(&rec)
	if !fitsCollector(rec.Events) && f.setAsideOversized(rec) {
		return
	}
	body := rec.Body(wire.BatchHeaderSize, wire.BatchPadding(len(rec.Events)))
	err := wire.PutBatch(body, &wire.Batch{ForwarderID: f.id, BatchSeq: rec.Seq, CreatedNs: rec.CreatedNs,
		EventCount: rec.EventCount, Events: rec.Events})
	if err != nil {
		f.log.Error("encode batch", zap.Uint64("batch_seq", rec.Seq), zap.Error(err))
		f.quarantine(rec, rec.Events)
		return
	}
	f.m.inFlight.Inc()
	defer f.m.inFlight.Dec()
	bo := backoff{min: f.cfg.RetryMin, max: f.cfg.RetryMax}
	woken := false
	for {
		start := time.Now()
		res := f.sender.Send(ctx, body)
		f.m.shipSeconds.Observe(time.Since(start).Seconds())
		var wait time.Duration
		switch res.Outcome {
		case ship.Delivered:
			f.m.batchesShipped.Inc()
			f.m.eventsShipped.Add(float64(rec.EventCount))
			f.sp.Release(rec)
			return
		case ship.Malformed:
			f.log.Error("collector rejected batch as malformed; quarantined", zap.Uint64("batch_seq", rec.Seq), zap.Error(res.Err))
			f.quarantine(rec, body)
			return
		case ship.TooLarge:
			if f.split(rec) {
				return
			}
			f.log.Error("collector refused a batch too large to split; quarantined", zap.Uint64("batch_seq", rec.Seq), zap.Error(res.Err))
			f.quarantine(rec, body)
			return
		case ship.Unauthorized:
			f.log.Error("collector refused our credentials; check --token-file", zap.Int("status", res.Status), zap.Error(res.Err))
			f.m.shipRetries.WithLabelValues("unauthorized").Inc()
			wait = f.cfg.AuthRetry
		default:
			if ctx.Err() != nil {
				return
			}
			if f.retryLog.Allow(time.Now()) {
				fields := []zap.Field{zap.Uint64("batch_seq", rec.Seq), zap.String("reason", res.Reason), zap.Error(res.Err)}
				if res.RetryAfter > 0 {
					fields = append(fields, zap.Duration("retry_after", res.RetryAfter))
				}
				f.log.Warn("batch delivery failed; retrying", fields...)
			}
			f.m.shipRetries.WithLabelValues(res.Reason).Inc()
			wait = bo.next()
		}
		switch f.pause(ctx, wait, res.RetryAfter, !woken) {
		case pauseStopped:
			return
		case pauseDrained:
			woken = true
			bo = backoff{min: f.cfg.RetryMin, max: f.cfg.RetryMax}
		}
	}
}

// maxRetryAfter bounds how long a far end's Retry-After holds a batch back,
// so that a wrong value (a proxy's, a date far ahead) cannot park shipping
// for hours.
const maxRetryAfter = 60 * time.Second

// retryDelay is how long to wait before sending a batch again: the backoff
// wait, or the Retry-After the far end asked for (bounded by
// maxRetryAfter) when that is longer.
func retryDelay(wait, retryAfter time.Duration) time.Duration {
	return max(wait, min(retryAfter, maxRetryAfter))
}

// pauseEnd says how a pause ended.
type pauseEnd int

const (
	pauseElapsed pauseEnd = iota // waited the whole time
	pauseDrained                 // cut short because draining began
	pauseStopped                 // ctx ended: give up on the batch for this run
)

// pause waits before a batch is sent again, for retryDelay(wait,
// retryAfter). With wakeOnDrain, the start of draining (drainCh closing)
// ends the wait early, so that every waiting delivery retries at once
// rather than sitting out its backoff; but never before the far end's
// Retry-After has passed. It returns at once when ctx ends.
func (f *Forwarder) pause(ctx context.Context, wait, retryAfter time.Duration, wakeOnDrain bool) pauseEnd {
	notBefore := time.Now().Add(min(retryAfter, maxRetryAfter))
	t := time.NewTimer(retryDelay(wait, retryAfter))
	defer t.Stop()
	var wake <-chan struct{}
	if wakeOnDrain {
		wake = f.drainCh
	}
	ended := pauseElapsed
	for {
		select {
		case <-ctx.Done():
			return pauseStopped
		case <-wake:
			wake, ended = nil, pauseDrained
			if d := time.Until(notBefore); d > 0 {
				t.Reset(d)
				continue
			}
			return ended
		case <-t.C:
			return ended
		}
	}
}

// split replaces a batch the collector found too large by its two halves,
// each sealed in the spool under a fresh batch seq, and releases the
// original once the halves are durable. It reports false when the batch
// holds a single message and cannot be split.
func (f *Forwarder) split(rec spool.Record) bool {
	if rec.EventCount < 2 {
		return false
	}
	half := rec.EventCount / 2
	var n uint32
	cut := 0
	// Spooled events are bounded by wire.MaxMessageSize (see
	// fitsCollector), not by this run's --max-message-size, which may
	// have been lowered since they were sealed.
	err := wire.Frames(rec.Events, wire.MaxMessageSize, func(frame []byte) error {
		if n < half {
			cut += len(frame)
		}
		n++
		return nil
	})
	if err != nil || n != rec.EventCount {
		return false
	}
	now := time.Now().UnixNano()
	if _, err := f.sp.Append(now, half, rec.Events[:cut], true); err != nil {
		f.log.Error("spool split batch", zap.Error(err))
		return false
	}
	if _, err := f.sp.Append(now, rec.EventCount-half, rec.Events[cut:], true); err != nil {
		f.log.Error("spool split batch", zap.Error(err))
		return false
	}
	if err := f.sp.Sync(); err != nil {
		f.log.Error("spool split batch", zap.Error(err))
		return false
	}
	f.m.batchesSplit.Inc()
	f.log.Warn("collector found a batch too large; split in two", zap.Uint64("batch_seq", rec.Seq), zap.Uint32("events", rec.EventCount))
	f.sp.Release(rec)
	return true
}

// fitsCollector reports whether every event in a spooled batch is within
// the collector's per-event limit. The socket holds events to
// --max-message-size, which is at most wire.MaxMessageSize, but a batch
// sealed by an earlier version that allowed up to 16 MiB can hold a larger
// one, and the collector refuses the whole batch for it. It reads only
// each event's segment table.
func fitsCollector(events []byte) bool {
	return wire.Frames(events, wire.MaxMessageSize, func([]byte) error { return nil }) == nil
}

// setAsideOversized splits a spooled batch holding events above
// wire.MaxMessageSize: those events go to the spool's quarantine as a batch
// of their own, the others are sealed again under a fresh batch seq to be
// shipped, and the original is released, so one oversized event no longer
// takes its batch's other events with it. It reports false, leaving the
// batch to the usual path, when the events do not frame or none is
// oversized. When the quarantine or the spool cannot be written the batch
// stays in the spool, unshipped, for the next start.
func (f *Forwarder) setAsideOversized(rec spool.Record) bool {
	var keep, over []byte
	var nKeep, nOver uint32
	largest := 0
	err := wire.Frames(rec.Events, spool.MaxRecordBytes, func(frame []byte) error {
		if len(frame) > wire.MaxMessageSize {
			over = append(over, frame...)
			nOver++
			largest = max(largest, len(frame))
		} else {
			keep = append(keep, frame...)
			nKeep++
		}
		return nil
	})
	if err != nil || nOver == 0 || nKeep+nOver != rec.EventCount {
		return false
	}
	body, err := wire.AppendBatch(nil, &wire.Batch{ForwarderID: f.id, BatchSeq: rec.Seq, CreatedNs: rec.CreatedNs,
		EventCount: nOver, Events: over})
	if err != nil {
		return false
	}
	path := f.quarantinePath(rec, "-oversized")
	if err := atomicfile.WriteFile(path, body); err != nil {
		f.log.Error("cannot write quarantined events; leaving their batch in the spool", zap.String("path", path), zap.Error(err))
		return true
	}
	if nKeep > 0 {
		if _, err := f.sp.Append(time.Now().UnixNano(), nKeep, keep, true); err != nil {
			f.log.Error("spool the rest of a batch with oversized events; leaving it in the spool", zap.Error(err))
			return true
		}
		if err := f.sp.Sync(); err != nil {
			f.log.Error("spool the rest of a batch with oversized events; leaving it in the spool", zap.Error(err))
			return true
		}
	}
	f.m.oversized.Add(float64(nOver))
	f.log.Error("spooled events above the collector's per-event limit quarantined; the rest of their batch ships",
		zap.Uint64("batch_seq", rec.Seq), zap.Uint32("oversized", nOver), zap.Uint32("kept", nKeep),
		zap.Int("largest_bytes", largest), zap.Int("limit_bytes", wire.MaxMessageSize), zap.String("path", path))
	f.sp.Release(rec)
	return true
}

// quarantinePath names the quarantine file of a batch.
func (f *Forwarder) quarantinePath(rec spool.Record, suffix string) string {
	name := fmt.Sprintf("batch-%s-%020d%s.capnp", hex.EncodeToString(f.id[:]), rec.Seq, suffix)
	return filepath.Join(f.sp.QuarantineDir(), name)
}

// quarantine keeps a rejected batch's request body in the spool's
// quarantine directory and releases it from the queue.
func (f *Forwarder) quarantine(rec spool.Record, body []byte) {
	path := f.quarantinePath(rec, "")
	if err := atomicfile.WriteFile(path, body); err != nil {
		// Keeping it queued is the only way not to lose it.
		f.log.Error("cannot write quarantined batch; leaving it in the spool", zap.String("path", path), zap.Error(err))
		return
	}
	f.m.quarantined.Inc()
	f.sp.Release(rec)
}

// backoff is capped exponential backoff with jitter: each wait is drawn
// from the upper half of a window that doubles from min up to max.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}
