package forwarder

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/readout-dev/readout/wire"
)

// Events from a source inside this process (the JSON report server,
// forwarder/report) enter the spool here, through the same validation,
// batcher, group commit and acknowledgement as an emitter connection's: a
// local source is one more acker beside the connections.

var (
	// ErrDraining means the forwarder has begun to drain (or never ran and
	// was shut down) and takes no more events from local sources.
	ErrDraining = errors.New("forwarder: draining; taking no more events")
	// ErrSpoolFull means the spool is at its size cap: nothing was handed
	// on. Taking the event would block its caller until batches ship.
	ErrSpoolFull = errors.New("forwarder: spool full")
	// ErrNotDurable means the spool writer stopped (the drain ran out of
	// time) before the event was fsynced; it may or may not be in the spool.
	ErrNotDurable = errors.New("forwarder: stopped before the event was durable")
)

// localIntake is the forwarder's side of its local sources.
type localIntake struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // Appends between the closed check and the batcher
	// writerStopped is closed once the spool writer has returned: an event
	// not acknowledged by then never will be.
	writerStopped chan struct{}
}

// localAck is one Append's acknowledgement: done is closed by the spool
// writer once the frame is durable.
type localAck struct{ done chan struct{} }

func (a *localAck) advance(uint64, bool, bool) {
	// Called once: every Append hands on exactly one ackRef, and the spool
	// writer advances each ackRef once.
	close(a.done)
}

// Append validates one stream-framed event as the forwarder validates an
// emitter's frames (the size limit --max-message-size, then wire.DecodeEvent)
// and hands a copy of it to the spool; frame is not retained. wait blocks
// until the event is durable (fsynced), ctx ends, or the spool writer stops
// without it (ErrNotDurable). An error from Append itself means nothing was
// handed on: a *wire.FrameError or *wire.InvalidError for a frame that is
// not valid, ErrSpoolFull (for events, not for a closed message), or
// ErrDraining.
//
// Append is safe for concurrent use. Events from one local source are
// acknowledged individually, so a source may number its seqs in any order;
// a source must stop calling Append before Run's context ends (its events
// after that are refused with ErrDraining, and the closed message that ends
// its audit would be too).
func (f *Forwarder) Append(frame []byte) (wait func(ctx context.Context) error, err error) {
	n, err := wire.FrameSize(frame, f.cfg.MaxMessage)
	if err == nil && n != len(frame) {
		err = fmt.Errorf("forwarder: append: frame of %d bytes holds a message of %d", len(frame), n)
	}
	if err != nil {
		return nil, err
	}
	eid, seq, kind, err := validate(frame)
	if err != nil {
		return nil, err
	}
	// A closed message is taken even into a full spool (it waits for room
	// as an emitter's would): it is small, and without it the source's
	// audit never ends.
	if kind != wire.KindClosed && f.sp.Stats().Full {
		return nil, ErrSpoolFull
	}
	li := &f.local
	li.mu.Lock()
	if li.closed {
		li.mu.Unlock()
		return nil, ErrDraining
	}
	li.wg.Add(1)
	li.mu.Unlock()
	defer li.wg.Done()

	meta := chunkMeta{events: 1, seq: seq, hasSeq: eid != [16]byte{}, closed: kind == wire.KindClosed}
	ack := &localAck{done: make(chan struct{})}
	f.batcher.add(ack, frame, meta)
	return func(ctx context.Context) error {
		select {
		case <-ack.done:
			return nil
		case <-li.writerStopped:
			select {
			case <-ack.done:
				return nil
			default:
				return ErrNotDurable
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

// closeLocal refuses further Appends and waits for those already past the
// check to reach the batcher, so that the batcher can close.
func (f *Forwarder) closeLocal() {
	f.local.mu.Lock()
	f.local.closed = true
	f.local.mu.Unlock()
	f.local.wg.Wait()
}
