package emitter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/readout-dev/readout/wire"
)

// ErrClosed is returned by EmitWait once Close has begun.
var ErrClosed = errors.New("emitter: closed")

// Emitter sends events to the forwarder. It is safe for concurrent use.
type Emitter struct {
	opts  Options
	id    [16]byte
	q     *queue
	clock *coarseClock

	// mu orders Emit calls: a seq is assigned and the event enters the
	// queue under it, so events reach the wire in seq order and the forwarder's
	// cumulative acknowledgement is sound. It also guards the drop counts,
	// so that Stats is exact.
	mu      sync.Mutex
	closing bool
	emitted uint64
	seq     uint64
	inBand  uint64 // drops of events that got a seq, carried on the wire
	drops   [numReasons]uint64
	room    chan struct{} // closed by the writer to wake EmitWait callers
	waiting atomic.Int32  // EmitWait callers parked on room
	state   atomic.Int32  // writerState, for the drop reason
	// writerParked is set while the writer sleeps until an Emit kicks it.
	writerParked atomic.Bool
	// The writer updates the counters below; padding keeps them off the
	// cache line that every Emit call writes.
	_         [64]byte
	sent      atomic.Uint64 // written at least once; only the writer adds
	replayed  atomic.Uint64
	connErrs  atomic.Uint64
	writeErrs atomic.Uint64
	acked     atomic.Uint64 // highest durableSeq acknowledged
	ringLen   atomic.Int64
	closedAck atomic.Bool
	unacked   atomic.Uint64 // set by finish: abandoned in the replay ring
	_         [64]byte

	wake      chan struct{} // ack reader to writer: acks arrived or conn died
	kick      chan struct{} // Emit to the writer: events are waiting
	kickAt    int
	stop      chan struct{} // closed by Close: flush and finish
	abort     chan struct{} // closed when Close's ctx ends: finish now
	done      chan struct{} // closed when the writer has ended
	closeOnce sync.Once
	abortOnce sync.Once
	clockOnce sync.Once

	connMu sync.Mutex // guards cur, so abort can unblock a stuck write
	cur    net.Conn

	reg       prometheus.Registerer // nil without metrics
	coll      *collector
	unregOnce sync.Once
}

// New validates opts and starts the writer goroutine. A forwarder socket
// that does not exist yet is not an error: the writer keeps trying.
func New(opts Options) (*Emitter, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Emitter{
		opts: o,
		id:   o.EmitterID,
		q:    newQueue(o.BufferSize),
		room: make(chan struct{}),
		wake: make(chan struct{}, 1),
		kick: make(chan struct{}, 1),
		// At least 1, so a one-slot buffer still wakes the writer.
		kickAt: max(1, o.BufferSize/2),
		stop:   make(chan struct{}),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
		clock:  newCoarseClock(),
	}
	if e.id == ([16]byte{}) {
		u, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("emitter: new emitter id: %w", err)
		}
		e.id = u
	}
	w, err := newWriter(e)
	if err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		c := newCollector(e)
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("emitter: register metrics: %w", err)
		}
		e.reg, e.coll = o.Registerer, c
	}
	e.state.Store(int32(stateDisconnected))
	go e.clock.run()
	go w.run()
	return e, nil
}

// ID returns the emitter id stamped on every event.
func (e *Emitter) ID() uuid.UUID { return e.id }

// Emit offers one inference event, timestamped now. It never blocks: when
// the buffer is full the event is dropped and counted, and Emit returns
// false. The caller keeps ev; Emit copies it. A nil ev, or one whose
// strings are not valid UTF-8 (which the forwarder refuses), is dropped
// with reason "invalid"; one that would exceed the message size limit with
// reason "too_large".
func (e *Emitter) Emit(ev *wire.Inference) bool {
	return e.offer(e.clock.Now(), wire.InferenceMember(ev))
}

// EmitAt is Emit with an explicit event time (the request's start). A zero
// start means now.
func (e *Emitter) EmitAt(start time.Time, ev *wire.Inference) bool {
	return e.offer(e.timestamp(start), wire.InferenceMember(ev))
}

// EmitLifecycle offers a lifecycle event, timestamped now, like Emit.
func (e *Emitter) EmitLifecycle(ev *wire.Lifecycle) bool {
	return e.offer(e.clock.Now(), wire.LifecycleMember(ev))
}

// EmitInstanceState offers an instance's report for one interval, like
// Emit; its event time is the interval's end (now when that is 0).
func (e *Emitter) EmitInstanceState(ev *wire.InstanceState) bool {
	var ts int64
	if ev != nil {
		ts = ev.IntervalEndNs
	}
	return e.offer(e.orNow(ts), wire.InstanceStateMember(ev))
}

// EmitSetupRun offers a setup run's report, like Emit; its event time is
// the run's completion (now when that is 0).
func (e *Emitter) EmitSetupRun(ev *wire.SetupRun) bool {
	var ts int64
	if ev != nil {
		ts = ev.CompletedAtNs
	}
	return e.offer(e.orNow(ts), wire.SetupRunMember(ev))
}

// EmitPrediction offers a prediction's terminal report, like Emit; its
// event time is the prediction's completion (now when that is 0).
func (e *Emitter) EmitPrediction(ev *wire.Prediction) bool {
	var ts int64
	if ev != nil {
		ts = ev.CompletedAtNs
	}
	return e.offer(e.orNow(ts), wire.PredictionMember(ev))
}

// EmitDownload offers a download's report, timestamped now, like Emit.
func (e *Emitter) EmitDownload(ev *wire.Download) bool {
	return e.offer(e.clock.Now(), wire.DownloadMember(ev))
}

// orNow is ts, the event time an event carries in a field of its own, or
// now when it carries none (0).
func (e *Emitter) orNow(ts int64) int64 {
	if ts != 0 {
		return ts
	}
	return e.clock.Now()
}

// timestamp is the event time of a request that started at start: a zero
// start means now.
func (e *Emitter) timestamp(start time.Time) int64 {
	if start.IsZero() {
		return e.clock.Now()
	}
	return start.UnixNano()
}

// EmitWait offers an inference event, waiting for room in the buffer
// instead of dropping it: for batch and backfill callers, never for a
// request path. A zero start means now. When ctx ends first, the event was
// not emitted at all (it gets no seq and is not counted) and ctx's error is
// returned. Once Close has begun it returns ErrClosed and counts the event
// as dropped. An event Emit would drop as "invalid" or "too_large" is
// dropped likewise, and EmitWait says why.
func (e *Emitter) EmitWait(ctx context.Context, start time.Time, ev *wire.Inference) error {
	return e.offerWait(ctx, e.timestamp(start), wire.InferenceMember(ev))
}

// EmitMemberWait is EmitWait for an event of any kind (make m with the
// kind's wire constructor, e.g. wire.PredictionMember): for batch,
// backfill and simulation callers, never for a request path. ts is the
// event time; zero means now.
func (e *Emitter) EmitMemberWait(ctx context.Context, ts time.Time, m wire.Member) error {
	return e.offerWait(ctx, e.timestamp(ts), m)
}

// offerWait is the blocking counterpart of offer, behind EmitWait: it
// waits for room in the buffer (see EmitWait). The zero Member (a nil
// event) is dropped as invalid.
func (e *Emitter) offerWait(ctx context.Context, ts int64, ev wire.Member) error {
	bad := check(ev, e.opts.MaxMessageSize)
	for {
		e.mu.Lock()
		if e.closing || bad != reasonNone {
			closing := e.closing
			e.rejectLocked(bad)
			e.mu.Unlock()
			switch {
			case closing:
				return ErrClosed
			case bad == reasonTooLarge:
				return fmt.Errorf("emitter: event larger than %d bytes", e.opts.MaxMessageSize)
			}
			return errInvalid
		}
		if s := e.q.reserve(); s != nil {
			e.fillLocked(s, ts, ev)
			e.mu.Unlock()
			e.kickIfNeeded()
			return nil
		}
		room := e.room
		e.waiting.Add(1)
		if e.q.len() < len(e.q.slots) {
			// The writer made room between the check above and our
			// registration, so it did not see us waiting: try again.
			e.waiting.Add(-1)
			e.mu.Unlock()
			continue
		}
		e.mu.Unlock()
		e.kickIfNeeded() // the buffer is full: make sure the writer knows
		select {
		case <-room:
			continue
		case <-e.stop:
		case <-ctx.Done():
		}
		e.mu.Lock()
		if e.room == room {
			e.waiting.Add(-1)
		}
		e.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

var (
	errInvalid = errors.New("emitter: invalid event: nil, or a string that is not valid UTF-8")
)

// offer is the hot path shared by the non-blocking Emit variants, for
// every kind of event: ev refers to the caller's event (the zero Member, a
// nil event, is dropped as invalid), which is copied into a slot, never
// retained, and not copied at all when it is dropped.
func (e *Emitter) offer(ts int64, ev wire.Member) bool {
	// An event the forwarder would refuse (too large, or not valid UTF-8)
	// would make it hang up on every replay and wedge the replay ring, so
	// it is dropped here.
	bad := check(ev, e.opts.MaxMessageSize)
	e.mu.Lock()
	if e.closing || bad != reasonNone {
		e.rejectLocked(bad)
		e.mu.Unlock()
		return false
	}
	if s := e.q.reserve(); s != nil {
		e.fillLocked(s, ts, ev)
		e.mu.Unlock()
		e.kickIfNeeded()
		return true
	}
	e.emitted++
	e.seq++
	e.inBand++
	e.drops[e.fullReason()]++
	e.mu.Unlock()
	return false
}

// check says why the forwarder would refuse ev, or reasonNone: the kind's
// own rules in wire (Member.Check) against limit, the forwarder's message
// size limit, with the two ids the writer adds. A nil event is invalid.
func check(ev wire.Member, limit int) reason {
	switch err := ev.Check(limit); err {
	case nil:
		return reasonNone
	case wire.ErrEventTooLarge:
		return reasonTooLarge
	}
	return reasonInvalid
}

// fillLocked writes ev into slot s with the next seq and the drops so far
// (all of them have lower seqs), and publishes it. The writer stamps the
// ids.
func (e *Emitter) fillLocked(s *wire.Event, ts int64, ev wire.Member) {
	e.emitted++
	e.seq++
	ev.Fill(s)
	s.TimestampNs, s.Seq, s.DroppedTotal = ts, e.seq, e.inBand
	e.q.publish()
}

// rejectLocked counts an event refused outright, for reason r. A too-large
// or invalid event takes a seq and is reported in-band like any drop; after
// Close began, events get no seq, since the closing message states the
// last one.
func (e *Emitter) rejectLocked(r reason) {
	e.emitted++
	if e.closing {
		e.drops[reasonClosed]++
		return
	}
	e.seq++
	e.inBand++
	e.drops[r]++
}

// fullReason says why the buffer is full, from the writer's state.
func (e *Emitter) fullReason() reason {
	switch writerState(e.state.Load()) {
	case stateDisconnected:
		return reasonDisconnected
	case stateRingFull:
		return reasonRingFull
	}
	return reasonBufferFull
}

// Stats returns a consistent snapshot: Sent + Dropped + Queued == Emitted.
func (e *Emitter) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	// sent is read under mu: the writer only counts events that entered the
	// queue, and none can enter while we hold mu, so Queued cannot go
	// negative.
	s := Stats{
		EmitterID:     e.id,
		Emitted:       e.emitted,
		LastSeq:       e.seq,
		Sent:          e.sent.Load(),
		Replayed:      e.replayed.Load(),
		ConnectErrors: e.connErrs.Load(),
		WriteErrors:   e.writeErrs.Load(),
		AckedSeq:      e.acked.Load(),
		RingOccupancy: uint64(e.ringLen.Load()),
		ClosedAcked:   e.closedAck.Load(),
		Unacked:       e.unacked.Load(),
		DroppedInBand: e.inBand,
	}
	s.DroppedByReason = DropCounts{
		BufferFull:   e.drops[reasonBufferFull],
		Disconnected: e.drops[reasonDisconnected],
		RingFull:     e.drops[reasonRingFull],
		TooLarge:     e.drops[reasonTooLarge],
		Invalid:      e.drops[reasonInvalid],
		Closed:       e.drops[reasonClosed],
		CloseTimeout: e.drops[reasonCloseTimeout],
	}
	for _, n := range e.drops {
		s.Dropped += n
	}
	s.Queued = s.Emitted - s.Sent - s.Dropped
	return s
}

// Close stops accepting events (later ones are dropped with reason
// "closed"), writes what is buffered, waits until the forwarder has
// acknowledged everything written, and then sends the closing message with
// the final seq and drop count and waits for its acknowledgement. When ctx
// ends first, what is still buffered is dropped (reason "close_timeout"),
// the closing message is still attempted, and Close returns an error
// wrapping ctx's; written events the forwarder never acknowledged are then
// abandoned, logged, and reported as Stats.Unacked. No goroutine outlives
// Close, and the metrics are unregistered, so a new Emitter may use the
// same registerer. Calling Close again waits for the first call's work.
func (e *Emitter) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closing = true
		e.mu.Unlock()
		close(e.stop)
	})
	select {
	case <-e.done:
	case <-ctx.Done():
		e.halt()
		<-e.done
	}
	e.clockOnce.Do(e.clock.close)
	e.unregOnce.Do(func() {
		if e.reg != nil {
			e.reg.Unregister(e.coll)
		}
	})
	if !e.closedAck.Load() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("emitter: close: %w", err)
		}
		return errors.New("emitter: close: the forwarder did not acknowledge the closing message")
	}
	return nil
}

// halt makes the writer finish at once, unblocking a write in progress.
func (e *Emitter) halt() {
	e.abortOnce.Do(func() {
		// A deadline in the past unblocks a write in progress without
		// closing the connection, which finish still uses for the closing
		// message. connMu orders this before finish sets its own deadline.
		e.connMu.Lock()
		close(e.abort)
		if e.cur != nil {
			_ = e.cur.SetWriteDeadline(time.Unix(1, 0))
		}
		e.connMu.Unlock()
	})
}

// makeRoom wakes EmitWait callers after the writer drained the buffer.
func (e *Emitter) makeRoom() {
	if e.waiting.Load() == 0 {
		return
	}
	e.mu.Lock()
	close(e.room)
	e.room = make(chan struct{})
	e.waiting.Store(0)
	e.mu.Unlock()
}

// kickIfNeeded wakes the writer when it sleeps on the buffer (traffic had
// stopped) or when the buffer is half full. Otherwise the writer, while
// events flow, collects them on its own tick, so that most Emit calls do
// not pay for waking a goroutine (several microseconds on a VM).
func (e *Emitter) kickIfNeeded() {
	if e.writerParked.Load() || e.q.len() >= e.kickAt {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// notify wakes the writer without ever blocking the caller.
func (e *Emitter) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
