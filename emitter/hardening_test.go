package emitter

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/readout-dev/readout/wire"
)

// Regression tests for the findings of the emitter review
// (invalid UTF-8, Close hangs, reconnects, abandoned ring, ...).

// TestInvalidEventsDroppedInBand: an event the forwarder would refuse (a
// string that is not valid UTF-8, or nil) is dropped with reason "invalid",
// takes a seq and is reported in-band, so it can never reach the replay
// ring and wedge the connection. The listener decodes strictly and hangs
// up on a refused frame, as the forwarder does.
func TestInvalidEventsDroppedInBand(t *testing.T) {
	cases := []struct {
		name string
		emit func(e *Emitter) bool
	}{
		{"model id", func(e *Emitter) bool { ev := testEvent(0); ev.ModelID = "llama\xff"; return e.Emit(&ev) }},
		{"container id", func(e *Emitter) bool { ev := testEvent(0); ev.ModelContainerID = "\xc3"; return e.Emit(&ev) }},
		{"backend", func(e *Emitter) bool { ev := testEvent(0); ev.Backend = "v\xedllm"; return e.Emit(&ev) }},
		{"emit at", func(e *Emitter) bool { ev := testEvent(0); ev.ModelID = "\x80"; return e.EmitAt(time.Now(), &ev) }},
		{"lifecycle model", func(e *Emitter) bool { return e.EmitLifecycle(&wire.Lifecycle{ModelID: "m\xff"}) }},
		{"lifecycle host", func(e *Emitter) bool { return e.EmitLifecycle(&wire.Lifecycle{Hostname: "h\xfe"}) }},
		{"nil inference", func(e *Emitter) bool { return e.Emit(nil) }},
		{"nil emit at", func(e *Emitter) bool { return e.EmitAt(time.Now(), nil) }},
		{"nil lifecycle", func(e *Emitter) bool { return e.EmitLifecycle(nil) }},
		{"emit wait", func(e *Emitter) bool {
			ev := testEvent(0)
			ev.ModelID = "\xff"
			return e.EmitWait(context.Background(), time.Time{}, &ev) == nil
		}},
		{"nil emit wait", func(e *Emitter) bool { return e.EmitWait(context.Background(), time.Time{}, nil) == nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := listenPipe(t, false)
			e := newEmitter(t, Options{Dial: l.dial})
			good := testEvent(1)
			if err := e.EmitWait(context.Background(), time.Time{}, &good); err != nil {
				t.Fatal(err)
			}
			if tc.emit(e) {
				t.Fatal("invalid event accepted")
			}
			if err := e.EmitWait(context.Background(), time.Time{}, &good); err != nil {
				t.Fatal(err)
			}
			if err := closeCtx(t, e, 5*time.Second); err != nil {
				t.Fatalf("close: %v", err)
			}
			s := e.Stats()
			checkAccounting(t, s)
			if s.DroppedByReason.Invalid != 1 || s.Dropped != 1 || s.DroppedInBand != 1 || s.LastSeq != 3 || s.Sent != 2 {
				t.Fatalf("unexpected stats %+v", s)
			}
			events, closed := l.received()
			if len(events) != 2 || events[0].Seq != 1 || events[1].Seq != 3 || events[1].DroppedTotal != 1 {
				t.Fatalf("unexpected events %+v; want seqs 1 and 3, the second with droppedTotal 1", events)
			}
			if len(closed) != 1 || closed[0].Seq != 3 || closed[0].DroppedTotal != 1 {
				t.Fatalf("unexpected closing messages %+v", closed)
			}
			if accepted, rejected := l.counts(); accepted != 1 || rejected != 0 {
				t.Fatalf("listener accepted %d connections and rejected %d frames; want 1 and 0", accepted, rejected)
			}
		})
	}
}

// TestEmitAtZeroTimeIsNow: a zero start means now, not year 1754.
func TestEmitAtZeroTimeIsNow(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial})
	before := time.Now()
	ev := testEvent(1)
	if !e.EmitAt(time.Time{}, &ev) {
		t.Fatal("event dropped")
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	events, _ := l.received()
	// The coarse clock may lag by a few ticks; a second is far beyond that.
	if len(events) != 1 || events[0].TimestampNs < before.Add(-time.Second).UnixNano() || events[0].TimestampNs > time.Now().UnixNano() {
		t.Fatalf("unexpected events %+v; want one stamped about %v", events, before)
	}
}

// bareWriter builds an emitter and its writer without starting the writer
// goroutine, so that a test can drive connect itself.
func bareWriter(t *testing.T, opts Options) (*Emitter, *writer) {
	t.Helper()
	o, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	e := &Emitter{opts: o, id: [16]byte{9}, q: newQueue(o.BufferSize), room: make(chan struct{}),
		wake: make(chan struct{}, 1), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		abort: make(chan struct{}), done: make(chan struct{}), clock: newCoarseClock()}
	w, err := newWriter(e)
	if err != nil {
		t.Fatal(err)
	}
	return e, w
}

// fillRing puts events with seqs first..last into the writer's ring, as if
// they had been written.
func fillRing(w *writer, first, last uint64) {
	c := w.ring.get()
	for s := first; s <= last; s++ {
		ev := wire.Event{Seq: s, Kind: wire.KindInference, Inference: testEvent(int(s))}
		w.encode(c, &ev, time.Now().UnixNano())
	}
	w.ring.push(c)
	w.e.sent.Add(last - first + 1)
}

// TestConnectAfterHaltDoesNotBlock: when Close's ctx ends while the writer
// is disconnected (halt finds no connection to cut short), the next
// connect must not replay the ring without a deadline to a forwarder that
// does not read: that blocked Close for ever.
func TestConnectAfterHaltDoesNotBlock(t *testing.T) {
	path := socketPath(t)
	l := listen(t, path, false)
	l.set(func() { l.stall = 1 })
	e, w := bareWriter(t, Options{SocketPath: path, ReconnectInterval: time.Hour})
	fillRing(w, 1, 5000) // over a MB: far more than a socket buffer
	e.halt()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.connect(time.Time{})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		l.stop() // unblock it
		<-done
		t.Fatal("connect after halt blocked on the replay")
	}
	if w.c != nil {
		t.Fatal("the replay cannot have succeeded against a forwarder that does not read")
	}
	if s := e.Stats(); s.WriteErrors != 0 || s.Replayed != 0 {
		t.Fatalf("unexpected stats %+v; a write cut short by Close is not a write error", s)
	}
	w.timer.Stop()
}

// TestFinishAfterHaltKeepsDeadline: a finish that began as an orderly
// Close, but whose ctx ended meanwhile, must not wait without a deadline
// on a forwarder that does not read.
func TestFinishAfterHaltKeepsDeadline(t *testing.T) {
	path := socketPath(t)
	l := listen(t, path, false)
	l.set(func() { l.stall = 1 })
	e, w := bareWriter(t, Options{SocketPath: path, ReconnectInterval: time.Hour})
	fillRing(w, 1, 5000)
	e.halt()
	e.closing = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.finish(false)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		l.stop()
		<-done
		t.Fatal("finish after halt blocked")
	}
	if s := e.Stats(); s.Unacked != 5000 || s.ClosedAcked {
		t.Fatalf("unexpected stats %+v; want 5000 unacked", s)
	}
}

// TestReplaySkipsAcknowledged: what was acknowledged after the last write
// on the old connection is released before the replay, not sent again.
func TestReplaySkipsAcknowledged(t *testing.T) {
	l := listenPipe(t, false)
	e, w := bareWriter(t, Options{Dial: l.dial, ReconnectInterval: time.Hour})
	fillRing(w, 1, 10)
	e.acked.Store(6)
	w.connect(time.Time{})
	if w.c == nil {
		t.Fatal("not connected")
	}
	waitFor(t, "the acknowledgement", func() bool { return e.acked.Load() == 10 })
	w.disconnect("test", nil)
	w.timer.Stop()
	events, _ := l.received()
	want := map[uint64]bool{7: true, 8: true, 9: true, 10: true}
	checkSeqs(t, events, want, e.id)
	if len(events) != 4 || e.replayed.Load() != 4 {
		t.Fatalf("replayed %d events (%d counted); want 4", len(events), e.replayed.Load())
	}
}

func TestReconnectDelay(t *testing.T) {
	const iv = 10 * time.Second
	cases := []struct {
		name  string
		op    string
		err   error
		lived time.Duration
		want  time.Duration
	}{
		{"idle hang-up of an old connection", "read", io.EOF, time.Minute, 0},
		{"hang-up at exactly one interval", "read", io.EOF, iv, 0},
		{"young connection hung up", "read", io.EOF, time.Second, iv},
		{"old connection reset", "read", errors.New("connection reset by peer"), time.Hour, iv},
		{"write error", "write", io.EOF, time.Hour, iv},
		{"replay error", "replay", io.EOF, time.Hour, iv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reconnectDelay(tc.op, tc.err, tc.lived, iv); got != tc.want {
				t.Fatalf("got %v; want %v", got, tc.want)
			}
		})
	}
}

// TestReconnectAtOnceAfterIdleHangUp: the forwarder hangs up on an idle
// connection; the emitter must dial again at once rather than wait a whole
// ReconnectInterval and drop the next burst as "disconnected". (The
// interval is long enough that the test cannot confuse the two.)
func TestReconnectAtOnceAfterIdleHangUp(t *testing.T) {
	const iv = time.Second
	path := socketPath(t)
	l := listen(t, path, false)
	e := newEmitter(t, Options{SocketPath: path, ReconnectInterval: iv})
	ev := testEvent(1)
	if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acknowledgement", func() bool { return e.Stats().AckedSeq == 1 })
	time.Sleep(iv + 50*time.Millisecond) // the connection is now old
	hungUp := time.Now()
	l.hangUp()
	waitFor(t, "the reconnect", func() bool { n, _ := l.counts(); return n == 2 })
	if d := time.Since(hungUp); d >= iv {
		t.Fatalf("reconnected after %v; want at once, well before the %v interval", d, iv)
	}
	if !e.Emit(&ev) {
		t.Fatal("event dropped after the reconnect")
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if s := e.Stats(); s.Dropped != 0 || s.ConnectErrors != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
}

// TestCloseAbandonedRingIsLoggedAndCounted: when Close's ctx ends with
// written events still unacknowledged, they are logged with their count
// and seq range and reported as Unacked, and the accounting still holds.
func TestCloseAbandonedRingIsLoggedAndCounted(t *testing.T) {
	l := listenPipe(t, true) // silent: never acknowledges
	core, logs := observer.New(zapcore.WarnLevel)
	e := newEmitter(t, Options{Dial: l.dial, Logger: zap.New(core)})
	for i := 0; i < 100; i++ {
		ev := testEvent(i)
		if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the writes", func() bool { return e.Stats().Sent == 100 })
	if err := closeCtx(t, e, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected close error %v; want deadline exceeded", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Unacked != 100 || s.Sent != 100 || s.Dropped != 0 || s.ClosedAcked {
		t.Fatalf("unexpected stats %+v; want 100 sent, all unacked", s)
	}
	found := logs.FilterMessageSnippet("never acknowledged").All()
	if len(found) != 1 {
		t.Fatalf("got %d abandon warnings; want 1 (logs %v)", len(found), logs.All())
	}
	f := found[0].ContextMap()
	if f["events"] != int64(100) || f["first_seq"] != uint64(1) || f["last_seq"] != uint64(100) {
		t.Fatalf("unexpected warning fields %v", f)
	}
}

// TestStalledForwarderTimesOut: a forwarder that accepts and then never
// reads used to block the writer for ever. The write deadline turns that
// into a write error, a reconnect and a replay, and nothing is lost.
func TestStalledForwarderTimesOut(t *testing.T) {
	const n = 5000 // over a MB: more than the socket buffers hold
	path := socketPath(t)
	l := listen(t, path, false)
	l.set(func() { l.stall = 1 })
	e := newEmitter(t, Options{SocketPath: path, ReconnectInterval: 20 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	want := map[uint64]bool{}
	for i := 1; i <= n; i++ {
		ev := testEvent(i)
		if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
			t.Fatal(err)
		}
		want[uint64(i)] = true
	}
	if err := closeCtx(t, e, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.WriteErrors == 0 || s.Replayed == 0 || s.Dropped != 0 || s.Unacked != 0 {
		t.Fatalf("unexpected stats %+v; want a write error, a replay and nothing lost", s)
	}
	events, closed := l.received()
	checkSeqs(t, events, want, e.ID())
	if len(closed) != 1 || closed[0].Seq != n {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
}

func TestWriteTimeoutDefault(t *testing.T) {
	cases := []struct {
		reconnect, write, want time.Duration
	}{
		{0, 0, 30 * time.Second},
		{time.Second, 0, 30 * time.Second},
		{20 * time.Second, 0, time.Minute},
		{time.Second, time.Millisecond, time.Millisecond},
	}
	for _, tc := range cases {
		o, err := Options{ReconnectInterval: tc.reconnect, WriteTimeout: tc.write}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if o.WriteTimeout != tc.want {
			t.Errorf("reconnect %v, write %v: got write timeout %v; want %v", tc.reconnect, tc.write, o.WriteTimeout, tc.want)
		}
	}
	if _, err := (Options{WriteTimeout: -1}).withDefaults(); err == nil {
		t.Fatal("negative write timeout accepted")
	}
	if _, err := (Options{MaxMessageSize: -1}).withDefaults(); err == nil {
		t.Fatal("negative max message size accepted")
	}
}

// TestClosingMessageRetried: the connection dies after the closing message
// was written but before its acknowledgement; while Close's ctx has time,
// the emitter reconnects and sends it again.
func TestClosingMessageRetried(t *testing.T) {
	l := listenPipe(t, false)
	l.set(func() { l.dropClosing = 1 })
	e := newEmitter(t, Options{Dial: l.dial})
	ev := testEvent(1)
	e.Emit(&ev)
	if err := closeCtx(t, e, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, closed := l.received()
	if len(closed) != 2 || closed[1].Seq != 1 || !e.Stats().ClosedAcked {
		t.Fatalf("unexpected closing messages %+v; want the second one acknowledged", closed)
	}
}

// TestMaxMessageSize: with a forwarder whose --max-message-size is lowered,
// Emit accepts exactly the events whose encoding fits, across the limit.
func TestMaxMessageSize(t *testing.T) {
	const limit = 1024
	e := newEmitter(t, Options{SocketPath: socketPath(t), MaxMessageSize: limit, BufferSize: 4096})
	for n := 700; n <= 1000; n += 7 {
		for _, kind := range []wire.Kind{wire.KindInference, wire.KindLifecycle} {
			ev := wire.Event{ID: [16]byte{1}, EmitterID: [16]byte{1}, Kind: kind}
			var got bool
			if kind == wire.KindInference {
				ev.Inference = testEvent(1)
				ev.Inference.ModelID = strings.Repeat("m", n-len(ev.Inference.ModelContainerID)-len(ev.Inference.Backend))
				got = e.Emit(&ev.Inference)
			} else {
				ev.Lifecycle = wire.Lifecycle{ModelID: strings.Repeat("m", n-1), Hostname: "h"}
				got = e.EmitLifecycle(&ev.Lifecycle)
			}
			if want := wire.EncodedSize(&ev) <= limit; got != want {
				t.Fatalf("kind %v, %d bytes of strings, encoded %d: accepted %v; want %v", kind, n, wire.EncodedSize(&ev), got, want)
			}
		}
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.DroppedByReason.TooLarge == 0 || s.Queued == 0 {
		t.Fatalf("unexpected stats %+v; the range must straddle the limit", s)
	}
	_ = closeCtx(t, e, 10*time.Millisecond) // no forwarder: do not wait
}
