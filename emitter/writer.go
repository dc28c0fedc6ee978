package emitter

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/wire"
)

const (
	// A write carries at most this many events or about this many bytes,
	// so that acknowledgements can release the ring in steps.
	maxBatchEvents = 1024
	maxBatchBytes  = 256 << 10
	// dialTimeout bounds one connection attempt; a Unix socket answers at
	// once unless its backlog is full.
	dialTimeout = time.Second
	// finalWriteTimeout bounds the writes Close makes after its ctx ended.
	finalWriteTimeout = time.Second
	// While events flow, the writer wakes every lingerTick to collect them
	// rather than blocking on the buffer; after maxIdleTicks without any
	// it blocks again, so an idle emitter costs nothing.
	lingerTick   = time.Millisecond
	maxIdleTicks = 10
)

// conn is one connection to the forwarder and its acknowledgement reader.
type conn struct {
	nc         net.Conn
	start      time.Time   // when it was established
	readErr    error       // set by the reader before dead
	dead       atomic.Bool // the reader stopped: the connection is gone
	closedAck  atomic.Bool // the forwarder acknowledged the closing message
	readerDone chan struct{}
}

// writer is the one goroutine that owns the connection and the replay ring.
type writer struct {
	e     *Emitter
	log   *zap.Logger
	ids   idGen
	ring  ring
	c     *conn // nil while disconnected
	timer *time.Timer
	buf   []byte // for the closing message
	// armed is the ordinary write deadline armWrite last set on the
	// current connection (zero: none, or a special one).
	armed time.Time

	linger    *time.Timer
	lingering bool // linger is armed
	idle      int  // linger ticks in a row that found no event
}

func newWriter(e *Emitter) (*writer, error) {
	ids, err := newIDGen()
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	l := time.NewTimer(time.Hour)
	l.Stop()
	return &writer{e: e, log: e.opts.Logger, ids: ids, timer: t, linger: l, idle: maxIdleTicks}, nil
}

func (w *writer) run() {
	e := w.e
	defer close(e.done)
	defer w.timer.Stop()
	defer w.linger.Stop()
	w.connect(time.Time{})
	stop := e.stop
	stopping := false
	for {
		if stopping && w.c != nil && e.q.len() == 0 && w.ring.events == 0 {
			w.finish(false)
			return
		}
		switch {
		case w.c == nil:
			e.state.Store(int32(stateDisconnected))
		case w.ring.events >= e.opts.ReplayRingSize:
			e.state.Store(int32(stateRingFull))
		default:
			e.state.Store(int32(stateConnected))
			if e.q.len() > 0 {
				// Look at the control channels without waiting, then write.
				select {
				case <-e.abort:
					w.finish(true)
					return
				case <-e.wake:
					w.onWake()
					continue
				case <-stop:
					stop, stopping = nil, true
				default:
				}
				w.idle = 0
				w.writeBatch()
				continue
			}
		}

		// Nothing to write now: wait for something to happen.
		var retry, tick <-chan time.Time
		var kick <-chan struct{}
		switch {
		case w.c == nil:
			retry = w.timer.C
		case w.ring.events >= e.opts.ReplayRingSize:
		case stopping || w.idle >= maxIdleTicks:
			// Traffic has stopped: sleep until an Emit kicks us. The
			// re-check after announcing it closes the race with an Emit
			// that published before it could see the flag.
			e.writerParked.Store(true)
			if e.q.len() > 0 {
				e.writerParked.Store(false)
				continue
			}
			kick = e.kick
		default:
			// Traffic is flowing: linger for a tick and let events gather,
			// so that Emit rarely has to wake us (it kicks when the buffer
			// is half full).
			if !w.lingering {
				w.linger.Reset(lingerTick)
				w.lingering = true
			}
			tick, kick = w.linger.C, e.kick
		}
		select {
		case <-tick:
			w.lingering = false
			if e.q.len() == 0 {
				w.idle++
			}
		case <-kick:
		case <-e.wake:
			w.onWake()
		case <-retry:
			w.connect(time.Time{})
		case <-stop:
			stop, stopping = nil, true
		case <-e.abort:
			e.writerParked.Store(false)
			w.finish(true)
			return
		}
		e.writerParked.Store(false)
	}
}

// encode stamps ev with its id and the emitter id and appends it to c.
func (w *writer) encode(c *chunk, ev *wire.Event, nowNs int64) {
	w.ids.next(&ev.ID, nowNs)
	ev.EmitterID = w.e.id
	off := len(c.data)
	c.data = wire.AppendEvent(c.data, ev)
	c.add(ev.Seq, off)
}

// writeBatch encodes what is buffered (as far as the ring has room) into
// one chunk, straight from the queue's slots, and writes it with one call.
func (w *writer) writeBatch() {
	e := w.e
	c := w.ring.get()
	limit := min(e.q.len(), maxBatchEvents, e.opts.ReplayRingSize-w.ring.events)
	now := time.Now().UnixNano()
	head := e.q.head.Load()
	n := 0
	for n < limit && len(c.data) < maxBatchBytes {
		w.encode(c, e.q.at(head, n), now)
		n++
	}
	e.q.head.Store(head + uint64(n))
	e.makeRoom()
	w.armWrite(w.c.nc, time.Time{})
	_, err := w.c.nc.Write(c.data)
	// Written or not, the events are now the ring's to deliver: a failed
	// write is replayed after the reconnect.
	w.ring.push(c)
	e.sent.Add(uint64(n))
	e.ringLen.Store(int64(w.ring.events))
	if err != nil {
		w.countWriteErr()
		w.disconnect("write", err)
	}
}

// halted reports whether Close's ctx has ended.
func (w *writer) halted() bool {
	select {
	case <-w.e.abort:
		return true
	default:
		return false
	}
}

func (w *writer) countWriteErr() {
	select {
	case <-w.e.abort: // Close interrupted the write on purpose
	default:
		w.e.writeErrs.Add(1)
	}
}

// onWake applies acknowledgements and notices a connection the reader
// found dead.
func (w *writer) onWake() {
	w.ring.release(w.e.acked.Load())
	w.e.ringLen.Store(int64(w.ring.events))
	if w.c != nil && w.c.dead.Load() {
		w.disconnect("read", w.c.readErr)
	}
}

// armWrite sets the write deadline for the next write on nc. A zero
// deadline means an ordinary write: WriteTimeout from now, or, once Close's
// ctx has ended, a deadline in the past, as halt sets, so that the write
// fails at once and finish takes over. A non-zero deadline (finish's) is
// kept, but never beyond finalWriteTimeout from now once ctx has ended. It
// holds connMu, so that it cannot replace the past deadline halt sets:
// either halt came first and this sees abort, or halt comes after and
// overrides this.
//
// An ordinary write keeps the deadline already set while at least 3/4 of
// WriteTimeout of it is left, so a stalled write fails after 3/4 to all of
// WriteTimeout: re-arming costs a clock read and a runtime timer update,
// which the writer cannot afford on every small write. Keeping it cannot
// erase halt's past deadline, since nothing is set.
func (w *writer) armWrite(nc net.Conn, deadline time.Time) {
	e := w.e
	if deadline.IsZero() && !w.armed.IsZero() &&
		w.armed.UnixNano()-e.clock.Now() >= int64(e.opts.WriteTimeout)/4*3 {
		return
	}
	w.armed = time.Time{}
	now := time.Now()
	e.connMu.Lock()
	defer e.connMu.Unlock()
	select {
	case <-e.abort:
		if deadline.IsZero() {
			deadline = time.Unix(1, 0)
		} else if limit := now.Add(finalWriteTimeout); deadline.After(limit) {
			deadline = limit
		}
	default:
		if deadline.IsZero() {
			deadline = now.Add(e.opts.WriteTimeout)
			w.armed = deadline
		}
	}
	_ = nc.SetWriteDeadline(deadline)
}

// connect dials the forwarder, starts the acknowledgement reader and
// replays the ring. On failure it arms the watchdog. A non-zero deadline
// bounds the replay.
func (w *writer) connect(deadline time.Time) {
	e := w.e
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	nc, err := e.opts.Dial(ctx)
	cancel()
	if err != nil {
		e.connErrs.Add(1)
		// Once per watchdog period at most: attempts are that far apart.
		w.log.Warn("readout forwarder unreachable; will retry",
			zap.String("socket", e.opts.SocketPath), zap.Duration("retry_in", e.opts.ReconnectInterval), zap.Error(err))
		w.timer.Reset(e.opts.ReconnectInterval)
		return
	}
	c := &conn{nc: nc, start: time.Now(), readerDone: make(chan struct{})}
	w.armed = time.Time{} // a new connection has no deadline yet
	e.connMu.Lock()
	e.cur = nc
	e.connMu.Unlock()
	go w.readAcks(c)
	w.c = c
	// What the forwarder acknowledged after the last connection's final
	// write need not be sent again.
	w.ring.release(e.acked.Load())
	e.ringLen.Store(int64(w.ring.events))
	w.log.Info("connected to readout forwarder", zap.String("socket", e.opts.SocketPath), zap.Int("replay_events", w.ring.events))
	if w.ring.events == 0 {
		return
	}
	// Set after cur, so that a halt that found cur nil (Close's ctx ended
	// while we dialled) is seen here and the replay cannot block for long.
	w.armWrite(nc, deadline)
	bufs := w.ring.buffers()
	n := w.ring.events
	if _, err := bufs.WriteTo(nc); err != nil {
		w.countWriteErr()
		w.disconnect("replay", err)
		return
	}
	e.replayed.Add(uint64(n))
}

// disconnect closes the connection, waits for its reader and arms the
// watchdog.
func (w *writer) disconnect(op string, err error) {
	e := w.e
	e.connMu.Lock()
	e.cur = nil
	e.connMu.Unlock()
	_ = w.c.nc.Close()
	<-w.c.readerDone
	retry := reconnectDelay(op, err, time.Since(w.c.start), e.opts.ReconnectInterval)
	w.c = nil
	w.log.Warn("readout forwarder connection lost; will reconnect",
		zap.String("op", op), zap.Duration("retry_in", retry), zap.Error(err))
	w.timer.Reset(retry)
}

// reconnectDelay is how long to wait before dialling again after the
// connection that lived for lived ended in op with err. A forwarder hangs
// up cleanly on a connection that stayed idle too long (5 min by default):
// waiting a whole ReconnectInterval then would drop the next burst as
// "disconnected", so the writer dials again at once. Only after a
// connection that lived at least one interval, though: one that dies young
// (a forwarder refusing what we replay, say) waits, so the writer cannot
// spin.
func reconnectDelay(op string, err error, lived, interval time.Duration) time.Duration {
	if op == "read" && errors.Is(err, io.EOF) && lived >= interval {
		return 0
	}
	return interval
}

// readAcks runs per connection until the connection fails or is closed.
func (w *writer) readAcks(c *conn) {
	defer close(c.readerDone)
	e := w.e
	err := wire.ReadAcks(c.nc, func(a wire.Ack) {
		for {
			cur := e.acked.Load()
			if a.DurableSeq <= cur || e.acked.CompareAndSwap(cur, a.DurableSeq) {
				break
			}
		}
		if a.Closed {
			c.closedAck.Store(true)
		}
		e.notify()
	})
	c.readErr = err
	c.dead.Store(true)
	e.notify()
}

// finish drops what is still buffered, sends the closing message and waits
// for its acknowledgement, and then hangs up. While Close's ctx has time,
// a connection that dies before the acknowledgement is redialled after
// ReconnectInterval and the closing message sent again. Once ctx has ended
// (aborted), the closing message is attempted once more with a short
// deadline and not waited for; written events the forwarder never
// acknowledged are then abandoned, logged and counted in Stats.Unacked.
func (w *writer) finish(aborted bool) {
	e := w.e
	e.mu.Lock()
	// Producers are shut out (closing is set), so the queue only shrinks.
	n := uint64(e.q.len())
	e.q.head.Add(n)
	e.inBand += n
	e.drops[reasonCloseTimeout] += n
	final := wire.Event{EmitterID: e.id, Seq: e.seq, DroppedTotal: e.inBand, Kind: wire.KindClosed}
	e.mu.Unlock()
	e.makeRoom()
	now := time.Now().UnixNano()
	final.TimestampNs = now
	w.ids.next(&final.ID, now)
	w.buf = wire.AppendEvent(w.buf[:0], &final)

	for {
		var deadline time.Time
		if aborted || w.halted() {
			aborted = true
			deadline = time.Now().Add(finalWriteTimeout)
		}
		if w.c == nil {
			// One more attempt, so the audit learns the final seq.
			w.timer.Stop()
			w.connect(deadline)
		}
		sent := false
		if w.c != nil {
			sent = true
			// Never a zero deadline here: should ctx end from now on,
			// armWrite turns a zero one into a past one, and the closing
			// message deserves its finalWriteTimeout.
			if deadline.IsZero() {
				deadline = time.Now().Add(e.opts.WriteTimeout)
			}
			if w.sendClosing(deadline, aborted) {
				e.closedAck.Store(true)
				break
			}
		}
		if aborted || (sent && w.halted()) {
			break
		}
		w.timer.Reset(e.opts.ReconnectInterval)
		select {
		case <-w.timer.C:
		case <-e.abort:
			aborted = true
		}
	}
	w.timer.Stop()
	w.ring.release(e.acked.Load())
	e.ringLen.Store(int64(w.ring.events))
	e.unacked.Store(uint64(w.ring.events))
	if w.ring.events > 0 {
		first, last := w.ring.span()
		w.log.Warn("readout: Close gave up on written events the forwarder never acknowledged",
			zap.Int("events", w.ring.events), zap.Uint64("first_seq", first), zap.Uint64("last_seq", last))
	}
}

// sendClosing writes the closing message on the current connection and,
// unless aborted, waits for its acknowledgement, the connection's end, or
// Close's ctx to end; then it hangs up. It reports whether the forwarder
// acknowledged the closing message.
func (w *writer) sendClosing(deadline time.Time, aborted bool) bool {
	e := w.e
	// A deadline in the past may have been set by halt; this one replaces
	// it (armWrite keeps it short once ctx has ended).
	w.armWrite(w.c.nc, deadline)
	if _, err := w.c.nc.Write(w.buf); err != nil {
		e.writeErrs.Add(1)
		w.log.Warn("readout: could not write the closing message", zap.Error(err))
	} else if !aborted {
	wait:
		for !w.c.closedAck.Load() && !w.c.dead.Load() {
			select {
			case <-e.wake:
			case <-e.abort:
				break wait
			}
		}
	}
	acked := w.c.closedAck.Load()
	e.connMu.Lock()
	e.cur = nil
	e.connMu.Unlock()
	_ = w.c.nc.Close()
	<-w.c.readerDone
	w.c = nil
	return acked
}
