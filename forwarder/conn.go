package forwarder

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/wire"
)

const (
	// ackWriteTimeout bounds one acknowledgement write; a peer that does
	// not read its acks only delays its own acks, never anything else.
	ackWriteTimeout = time.Second
	// finalAckTimeout bounds the last acknowledgement on a closing connection.
	finalAckTimeout = 100 * time.Millisecond
	// eofAckWait bounds how long a connection whose peer finished writing
	// stays open to deliver the acknowledgements for what it sent.
	eofAckWait = 5 * time.Second
)

// connState is one emitter connection as the spool writer and the ack
// writer see it.
type connState struct {
	c *net.UnixConn

	// Written by the reader goroutine only.
	sentSeq    uint64
	sentAny    bool
	sentClosed bool

	// Advanced by the spool writer once events are durable.
	durableSeq    atomic.Uint64
	closedDurable atomic.Bool

	notify  chan struct{} // cap 1: "durable state changed"
	done    chan struct{} // closed when reading has ended
	ackDone chan struct{} // closed when the ack writer has ended
}

func newConnState(c *net.UnixConn) *connState {
	return &connState{c: c, notify: make(chan struct{}, 1), done: make(chan struct{}), ackDone: make(chan struct{})}
}

// advance records that events up to seq (and the closed message, when
// closed) are durable, and wakes the ack writer. Called by the spool writer.
func (cs *connState) advance(seq uint64, hasSeq, closed bool) {
	if hasSeq && seq > cs.durableSeq.Load() {
		cs.durableSeq.Store(seq)
	}
	if closed {
		cs.closedDurable.Store(true)
	}
	select {
	case cs.notify <- struct{}{}:
	default:
	}
}

// caughtUp reports whether everything the reader handed on is durable.
func (cs *connState) caughtUp() bool {
	return (!cs.sentAny || cs.durableSeq.Load() >= cs.sentSeq) && (!cs.sentClosed || cs.closedDurable.Load())
}

// ackLoop writes cumulative acknowledgements, newest only. A write that
// times out keeps its unwritten tail (a frame cannot be dropped halfway) and
// is finished later; acks that became stale meanwhile are never written.
func (f *Forwarder) ackLoop(cs *connState) {
	defer close(cs.ackDone)
	var last wire.Ack
	var pend []byte
	broken := false
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		final := false
		select {
		case <-cs.notify:
		case <-retry.C:
		case <-cs.done:
			final = true
		}
		for !broken {
			if len(pend) == 0 {
				a := wire.Ack{DurableSeq: cs.durableSeq.Load(), Closed: cs.closedDurable.Load()}
				if a == last {
					break
				}
				b, err := wire.EncodeAck(a)
				if err != nil {
					f.log.Error("encode ack", zap.Error(err))
					broken = true
					break
				}
				pend, last = b, a
			}
			timeout := ackWriteTimeout
			if final {
				timeout = finalAckTimeout
			}
			cs.c.SetWriteDeadline(time.Now().Add(timeout))
			n, err := cs.c.Write(pend)
			pend = pend[n:]
			if err == nil {
				f.m.acksSent.Inc()
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && !final {
				retry.Reset(50 * time.Millisecond)
				break
			}
			// The peer hung up or stopped reading for good; acks on this
			// connection are over, reading is not affected.
			if len(pend) > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				f.m.acksDropped.Inc()
			}
			broken = true
		}
		if final {
			return
		}
	}
}

// serve runs one connection to its end.
func (f *Forwarder) serve(c *net.UnixConn) {
	defer f.connWG.Done()
	defer f.nconns.Add(-1)
	cs := newConnState(c)
	f.track(cs, true)
	defer f.track(cs, false)
	f.m.connections.Inc()
	defer f.m.connections.Dec()
	go f.ackLoop(cs)
	why := f.readLoop(cs)
	if why == "eof" || why == "shutdown" {
		// The peer may have only shut its write side, or we are shutting
		// down: deliver the acks for what it sent before hanging up, so
		// that it need not replay it. The batcher seals within the linger
		// time, so this wait is short unless the spool is full.
		deadline := time.Now().Add(f.cfg.BatchLinger + eofAckWait)
		for !cs.caughtUp() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(cs.done)
	<-cs.ackDone
	c.Close()
	f.m.connsClosed.WithLabelValues(why).Inc()
}

// track adds or removes a connection from the set drain must reach.
func (f *Forwarder) track(cs *connState, add bool) {
	f.connMu.Lock()
	defer f.connMu.Unlock()
	if add {
		f.conns[cs] = struct{}{}
		if f.draining.Load() {
			cs.c.SetReadDeadline(time.Unix(0, f.drainAt.Load()))
		}
	} else {
		delete(f.conns, cs)
	}
}

// readLoop reads and validates frames until the connection ends and says
// why it ended.
func (f *Forwarder) readLoop(cs *connState) string {
	fr := newFrameReader(f.cfg.MaxMessage)
	bufSize := len(fr.buf)
	f.m.readBufferBytes.Add(float64(bufSize))
	defer func() { f.m.readBufferBytes.Sub(float64(len(fr.buf))) }()
	var frameStart time.Time
	for {
		now := time.Now()
		var dl time.Time
		if fr.buffered() {
			if frameStart.IsZero() {
				frameStart = now
			}
			dl = frameStart.Add(f.cfg.FrameTimeout)
		} else {
			frameStart = time.Time{}
			dl = now.Add(f.cfg.IdleTimeout)
		}
		cs.c.SetReadDeadline(dl)
		// Checked after setting: if the drain began before this point its
		// own deadline may have been overwritten just now, so apply it
		// again; if it begins later, the drain's deadline comes last.
		if f.draining.Load() {
			if dd := time.Unix(0, f.drainAt.Load()); dd.Before(dl) {
				cs.c.SetReadDeadline(dd)
			}
		}
		n, err := fr.readFrom(cs.c)
		if len(fr.buf) != bufSize {
			f.m.readBufferBytes.Add(float64(len(fr.buf) - bufSize))
			bufSize = len(fr.buf)
		}
		if n > 0 {
			completed, bad := f.consume(cs, fr)
			if bad != nil {
				r := reason(bad)
				f.m.malformed.WithLabelValues(r).Inc()
				if f.malformedLog.Allow(time.Now()) {
					f.log.Warn("malformed frame; closing connection", zap.String("reason", r), zap.Error(bad))
				}
				return "malformed"
			}
			if completed {
				// The partial frame left over (if any) began in this read;
				// time spent waiting on a full spool is not the peer's.
				frameStart = time.Now()
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return "eof"
			case errors.Is(err, os.ErrDeadlineExceeded) && f.draining.Load():
				return "shutdown"
			case errors.Is(err, os.ErrDeadlineExceeded) && fr.buffered():
				return "frame_timeout"
			case errors.Is(err, os.ErrDeadlineExceeded):
				return "idle_timeout"
			}
			return "error"
		}
	}
}

// consume hands every whole, valid frame in the reader to the batcher, in
// chunks no bigger than a batch. It reports whether any frame completed,
// and the error that makes the connection unusable; the valid frames before
// a bad one are still handed on.
func (f *Forwarder) consume(cs *connState, fr *frameReader) (bool, error) {
	var (
		ck                           chunkMeta
		from                         = fr.start
		good                         = fr.start // end of the last valid frame
		events, closed, anon, nbytes int
		bad                          error
	)
	for {
		frame, err := fr.next()
		if err != nil {
			bad = err
			break
		}
		if frame == nil {
			break
		}
		eid, seq, kind, err := validate(frame)
		if err != nil {
			bad = err
			break
		}
		if ck.events > 0 && (good-from+len(frame) > f.cfg.BatchMaxBytes || int(ck.events)+1 > f.cfg.BatchMaxEvents) {
			f.handOn(cs, fr.buf[from:good], ck)
			from, ck = good, chunkMeta{}
		}
		good = fr.start
		ck.events++
		nbytes += len(frame)
		switch {
		case kind == wire.KindClosed:
			closed++
			ck.closed = true
		case eid == [16]byte{}:
			anon++
			events++
		default:
			events++
		}
		if eid != [16]byte{} && (!ck.hasSeq || seq > ck.seq) {
			ck.seq, ck.hasSeq = seq, true
		}
	}
	if ck.events > 0 {
		f.handOn(cs, fr.buf[from:good], ck)
	}
	f.m.eventsReceived.Add(float64(events))
	f.m.closedReceived.Add(float64(closed))
	f.m.anonymous.Add(float64(anon))
	f.m.bytesReceived.Add(float64(nbytes))
	return good > from || nbytes > 0, bad
}

// chunkMeta is what the spool writer needs to acknowledge a chunk.
type chunkMeta struct {
	events uint32
	seq    uint64
	hasSeq bool
	closed bool
}

// handOn passes frames to the batcher, which copies them; under
// backpressure (a full spool) it blocks, and so the connection stops
// reading.
func (f *Forwarder) handOn(cs *connState, frames []byte, meta chunkMeta) {
	if meta.hasSeq {
		cs.sentSeq, cs.sentAny = max(cs.sentSeq, meta.seq), true
	}
	if meta.closed {
		cs.sentClosed = true
	}
	f.batcher.add(cs, frames, meta)
}
