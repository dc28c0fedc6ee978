package emitter

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/readout-dev/readout/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEvent is a plausible inference event whose account id carries i.
func testEvent(i int) wire.Inference {
	return wire.Inference{
		AccountID:        uint64(i),
		ModelID:          "@cf/meta/llama-3.1-8b-instruct",
		RequestTimeUs:    1500,
		InferenceTimeUs:  1200,
		Neurons:          1.25,
		HTTPStatus:       200,
		ColoID:           7,
		ModelContainerID: "c-1",
		RequestSource:    wire.SourceWorker,
		Streamed:         true,
		Backend:          "vllm",
		InputTokens:      10,
		OutputTokens:     20,
	}
}

func newEmitter(t *testing.T, opts Options) *Emitter {
	t.Helper()
	if opts.ReconnectInterval == 0 {
		opts.ReconnectInterval = 50 * time.Millisecond
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// waitFor polls cond; it fails the test after 10 s (a hang, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func checkAccounting(t *testing.T, s Stats) {
	t.Helper()
	if s.Sent+s.Dropped+s.Queued != s.Emitted {
		t.Fatalf("accounting broken: sent %d + dropped %d + queued %d != emitted %d", s.Sent, s.Dropped, s.Queued, s.Emitted)
	}
	r := s.DroppedByReason
	if sum := r.BufferFull + r.Disconnected + r.RingFull + r.TooLarge + r.Invalid + r.Closed + r.CloseTimeout; sum != s.Dropped {
		t.Fatalf("drops by reason sum to %d; want %d", sum, s.Dropped)
	}
}

func closeCtx(t *testing.T, e *Emitter, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return e.Close(ctx)
}

// seqSet checks that events hold each seq in want exactly once or more,
// and nothing else.
func checkSeqs(t *testing.T, events []wire.Event, want map[uint64]bool, id [16]byte) {
	t.Helper()
	got := map[uint64]bool{}
	for _, ev := range events {
		if ev.EmitterID != id {
			t.Fatalf("seq %d: unexpected emitter id %x; want %x", ev.Seq, ev.EmitterID, id)
		}
		if ev.ID == ([16]byte{}) || ev.ID[6]>>4 != 7 {
			t.Fatalf("seq %d: id %x is not a UUIDv7", ev.Seq, ev.ID)
		}
		if !want[ev.Seq] {
			t.Fatalf("unexpected seq %d received", ev.Seq)
		}
		got[ev.Seq] = true
	}
	if len(got) != len(want) {
		t.Fatalf("unexpected distinct seqs received; got %d; want %d", len(got), len(want))
	}
}

func TestNormalFlowExactAccounting(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial})
	const n = 5000
	accepted := map[uint64]bool{}
	dropsBelow := map[uint64]uint64{} // seq -> drops with lower seqs
	var drops uint64
	for i := 1; i <= n; i++ {
		ev := testEvent(i)
		dropsBelow[uint64(i)] = drops
		if e.Emit(&ev) {
			accepted[uint64(i)] = true
		} else {
			drops++
		}
		if i%500 == 0 {
			checkAccounting(t, e.Stats())
			time.Sleep(time.Millisecond) // let the writer drain now and then
		}
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Emitted != n || s.Queued != 0 || s.Sent != uint64(len(accepted)) || s.Dropped != drops {
		t.Fatalf("unexpected stats %+v; want emitted %d, sent %d, dropped %d, queued 0", s, n, len(accepted), drops)
	}
	if !s.ClosedAcked || s.RingOccupancy != 0 || s.AckedSeq < s.LastSeq-drops {
		t.Fatalf("close incomplete: %+v", s)
	}
	events, closed := l.received()
	checkSeqs(t, events, accepted, e.ID())
	for _, ev := range events {
		if ev.DroppedTotal != dropsBelow[ev.Seq] {
			t.Fatalf("seq %d: unexpected droppedTotal; got %d; want %d", ev.Seq, ev.DroppedTotal, dropsBelow[ev.Seq])
		}
		if ev.Kind != wire.KindInference || ev.Inference.AccountID != ev.Seq || ev.Inference.ModelID != "@cf/meta/llama-3.1-8b-instruct" {
			t.Fatalf("seq %d: unexpected content %+v", ev.Seq, ev)
		}
	}
	if len(closed) != 1 || closed[0].Seq != n || closed[0].DroppedTotal != drops || closed[0].EmitterID != e.ID() {
		t.Fatalf("unexpected closing messages %+v; want one with seq %d, droppedTotal %d", closed, n, drops)
	}
}

func TestForwarderAppearsLater(t *testing.T) {
	path := socketPath(t)
	e := newEmitter(t, Options{SocketPath: path})
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= 300; i++ {
			ev := testEvent(i)
			if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	waitFor(t, "a failed connection attempt", func() bool { return e.Stats().ConnectErrors >= 2 })
	if s := e.Stats(); s.Sent != 0 || s.Dropped != 0 {
		t.Fatalf("unexpected stats before the forwarder exists: %+v", s)
	}
	l := listen(t, path, false)
	if err := <-done; err != nil {
		t.Fatalf("emit wait: %v", err)
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Sent != 300 || s.Dropped != 0 {
		t.Fatalf("unexpected stats %+v; want 300 sent, none dropped", s)
	}
	want := map[uint64]bool{}
	for i := uint64(1); i <= 300; i++ {
		want[i] = true
	}
	events, closed := l.received()
	checkSeqs(t, events, want, e.ID())
	if len(closed) != 1 || closed[0].Seq != 300 {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
}

// TestReplayAfterForwarderCrash kills a forwarder that never acknowledged
// and starts a new one: the ring replays, and every seq arrives.
func TestReplayAfterForwarderCrash(t *testing.T) {
	path := socketPath(t)
	l1 := listen(t, path, true)
	e := newEmitter(t, Options{SocketPath: path})
	const n = 6000
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			ev := testEvent(i)
			if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	waitFor(t, "events at the first forwarder", func() bool { ev, _ := l1.received(); return len(ev) >= n/4 })
	l1.stop()
	first, _ := l1.received()
	time.Sleep(20 * time.Millisecond)
	l2 := listen(t, path, false)
	if err := <-done; err != nil {
		t.Fatalf("emit wait: %v", err)
	}
	if err := closeCtx(t, e, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Emitted != n || s.Sent != n || s.Dropped != 0 || s.Queued != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
	if s.Replayed < uint64(len(first)) {
		t.Fatalf("unexpected replay count %d; want at least the %d events the dead forwarder got", s.Replayed, len(first))
	}
	second, closed := l2.received()
	want := map[uint64]bool{}
	for i := uint64(1); i <= n; i++ {
		want[i] = true
	}
	checkSeqs(t, second, want, e.ID()) // the new forwarder alone has them all
	if len(closed) != 1 || closed[0].Seq != n || closed[0].DroppedTotal != 0 {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
}

func TestBufferFullDrops(t *testing.T) {
	path := socketPath(t)
	e := newEmitter(t, Options{SocketPath: path, BufferSize: 4})
	waitFor(t, "a failed connection attempt", func() bool { return e.Stats().ConnectErrors >= 1 })
	var ok int
	for i := 1; i <= 100; i++ {
		ev := testEvent(i)
		if e.Emit(&ev) {
			ok++
		}
	}
	s := e.Stats()
	checkAccounting(t, s)
	if ok != 4 || s.Queued != 4 || s.Dropped != 96 || s.DroppedByReason.Disconnected != 96 {
		t.Fatalf("unexpected stats %+v (accepted %d); want 4 queued, 96 dropped while disconnected", s, ok)
	}
	l := listen(t, path, false)
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	events, closed := l.received()
	checkSeqs(t, events, map[uint64]bool{1: true, 2: true, 3: true, 4: true}, e.ID())
	if len(closed) != 1 || closed[0].Seq != 100 || closed[0].DroppedTotal != 96 {
		t.Fatalf("unexpected closing messages %+v; want seq 100, droppedTotal 96", closed)
	}
	if s := e.Stats(); s.Sent != 4 || s.Queued != 0 {
		t.Fatalf("unexpected final stats %+v", s)
	}
}

// TestRingFullHolds: a forwarder that stops acknowledging fills the ring;
// the writer holds, the buffer fills, and Emit drops with reason ring_full.
func TestRingFullHolds(t *testing.T) {
	l := listenPipe(t, true)
	e := newEmitter(t, Options{Dial: l.dial, BufferSize: 4, ReplayRingSize: 10})
	for i := 1; i <= 10; i++ {
		ev := testEvent(i)
		if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a full ring", func() bool { s := e.Stats(); return s.Sent == 10 && s.RingOccupancy == 10 })
	var ok int
	for i := 11; i <= 110; i++ {
		ev := testEvent(i)
		if e.Emit(&ev) {
			ok++
		}
	}
	s := e.Stats()
	checkAccounting(t, s)
	if ok != 4 || s.Sent != 10 || s.Queued != 4 || s.DroppedByReason.RingFull != 96 {
		t.Fatalf("unexpected stats %+v (accepted %d); want 10 sent, 4 queued, 96 dropped ring_full", s, ok)
	}
	l.setSilent(false)
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	want := map[uint64]bool{}
	for i := uint64(1); i <= 14; i++ {
		want[i] = true
	}
	events, closed := l.received()
	checkSeqs(t, events, want, e.ID())
	if len(closed) != 1 || closed[0].Seq != 110 || closed[0].DroppedTotal != 96 {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
}

func TestCloseSilentListenerReturnsAtDeadline(t *testing.T) {
	l := listenPipe(t, true)
	e := newEmitter(t, Options{Dial: l.dial})
	for i := 1; i <= 50; i++ {
		ev := testEvent(i)
		if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := closeCtx(t, e, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected close error %v; want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("close took %v after a 200ms deadline", d)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.ClosedAcked || s.Sent != 50 || s.Queued != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
	// The closing message is still written, for the audit.
	waitFor(t, "the closing message", func() bool { _, c := l.received(); return len(c) == 1 })
	_, closed := l.received()
	if closed[0].Seq != 50 {
		t.Fatalf("unexpected closing seq %d; want 50", closed[0].Seq)
	}
}

func TestCloseWithoutForwarder(t *testing.T) {
	e := newEmitter(t, Options{SocketPath: socketPath(t), BufferSize: 8})
	for i := 0; i < 20; i++ {
		ev := testEvent(i)
		e.Emit(&ev)
	}
	if err := closeCtx(t, e, 100*time.Millisecond); err == nil {
		t.Fatal("close succeeded without a forwarder")
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Queued != 0 || s.Sent != 0 || s.DroppedByReason.CloseTimeout != 8 || s.DroppedByReason.Disconnected != 12 {
		t.Fatalf("unexpected stats %+v; want 8 close_timeout and 12 disconnected drops", s)
	}
}

func TestEmitAfterClose(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial})
	ev := testEvent(1)
	e.Emit(&ev)
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if e.Emit(&ev) {
		t.Fatal("emit after close was accepted")
	}
	if err := e.EmitWait(context.Background(), time.Time{}, &ev); !errors.Is(err, ErrClosed) {
		t.Fatalf("unexpected emit wait error %v; want ErrClosed", err)
	}
	if err := closeCtx(t, e, time.Second); err != nil {
		t.Fatalf("second close: %v", err)
	}
	s := e.Stats()
	checkAccounting(t, s)
	if s.Emitted != 3 || s.LastSeq != 1 || s.DroppedByReason.Closed != 2 || s.DroppedInBand != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
	if _, closed := l.received(); len(closed) != 1 || closed[0].Seq != 1 {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
}

func TestTooLargeDropped(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial})
	big := testEvent(1)
	big.ModelID = strings.Repeat("x", wire.DefaultMaxMessageSize)
	if e.Emit(&big) {
		t.Fatal("oversized event accepted")
	}
	if err := e.EmitWait(context.Background(), time.Time{}, &big); err == nil {
		t.Fatal("oversized event accepted by EmitWait")
	}
	ev := testEvent(3)
	if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
		t.Fatal(err)
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	events, closed := l.received()
	if len(events) != 1 || events[0].Seq != 3 || events[0].DroppedTotal != 2 {
		t.Fatalf("unexpected events %+v; want seq 3 with droppedTotal 2", events)
	}
	if len(closed) != 1 || closed[0].Seq != 3 || closed[0].DroppedTotal != 2 {
		t.Fatalf("unexpected closing messages %+v", closed)
	}
	if s := e.Stats(); s.DroppedByReason.TooLarge != 2 {
		t.Fatalf("unexpected stats %+v", s)
	}
}

func TestEmitWaitContext(t *testing.T) {
	e := newEmitter(t, Options{SocketPath: socketPath(t), BufferSize: 1})
	ev := testEvent(1)
	if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.EmitWait(ctx, time.Time{}, &ev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected error %v; want deadline exceeded", err)
	}
	if s := e.Stats(); s.Emitted != 1 || s.Queued != 1 {
		t.Fatalf("unexpected stats %+v; a canceled EmitWait must not count", s)
	}
	_ = closeCtx(t, e, 10*time.Millisecond) // no forwarder: do not wait
}

func TestEmitAtAndLifecycle(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial, EmitterID: [16]byte{1, 2, 3}})
	at := time.Unix(1_700_000_000, 5)
	ev := testEvent(1)
	e.EmitAt(at, &ev)
	e.EmitLifecycle(&wire.Lifecycle{BeginTs: 9, ModelID: "@cf/openai/whisper", Hostname: "h"})
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	events, _ := l.received()
	if len(events) != 2 || events[0].TimestampNs != at.UnixNano() || events[1].Kind != wire.KindLifecycle ||
		events[1].Lifecycle.Hostname != "h" || events[0].EmitterID != [16]byte{1, 2, 3} {
		t.Fatalf("unexpected events %+v", events)
	}
}

func TestInvalidOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"negative buffer", Options{BufferSize: -1}, "buffer size"},
		{"negative interval", Options{ReconnectInterval: -time.Second}, "reconnect interval"},
		{"negative ring", Options{ReplayRingSize: -5}, "replay ring size"},
		{"message size past the wire limit", Options{MaxMessageSize: wire.MaxMessageSize + 1}, "max message size"},
		{"long path", Options{SocketPath: "/" + strings.Repeat("a", 200)}, "socket path"},
		{"nul in path", Options{SocketPath: "/tmp/a\x00b"}, "NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.opts)
			if err == nil {
				_ = closeCtx(t, e, time.Millisecond)
				t.Fatalf("options accepted; want an error mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error %q; want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestMissingSocketIsNotAnError covers a path that does not exist and one
// that is not a socket: New succeeds, the writer counts connect errors, and
// it logs once per watchdog period, not more.
func TestMissingSocketIsNotAnError(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{dir + "/absent.sock", dir} {
		core, logs := observer.New(zap.WarnLevel)
		start := time.Now()
		e := newEmitter(t, Options{SocketPath: path, Logger: zap.New(core)})
		waitFor(t, "connect errors", func() bool { return e.Stats().ConnectErrors >= 3 })
		_ = closeCtx(t, e, 10*time.Millisecond)
		periods := int(time.Since(start)/(50*time.Millisecond)) + 2 // the first try, and the final one in Close
		n := logs.FilterMessage("readout forwarder unreachable; will retry").Len()
		if n < 3 || n > periods {
			t.Fatalf("%s: unexpected warnings; got %d; want 3 to %d", path, n, periods)
		}
		if got := e.Stats().ConnectErrors; got != uint64(n) {
			t.Fatalf("%s: %d connect errors but %d warnings", path, got, n)
		}
	}
}

// TestDialOption: a Dial in Options replaces dialling SocketPath (which here
// could never be dialled); its failures are counted and retried like a
// missing socket's, and each call gets a context bounded by the dial
// timeout.
func TestDialOption(t *testing.T) {
	l := listenPipe(t, false)
	var calls atomic.Int32
	var unbounded atomic.Bool
	dial := func(ctx context.Context) (net.Conn, error) {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > dialTimeout {
			unbounded.Store(true)
		}
		if calls.Add(1) <= 2 {
			return nil, errRefused
		}
		return l.dial(ctx)
	}
	e := newEmitter(t, Options{Dial: dial, SocketPath: "/nonexistent/never-dialled.sock"})
	ev := testEvent(1)
	if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
		t.Fatal(err)
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if s := e.Stats(); s.ConnectErrors != 2 || s.Sent != 1 || !s.ClosedAcked {
		t.Fatalf("unexpected stats %+v; want 2 connect errors, 1 sent, the close acknowledged", s)
	}
	if events, closed := l.received(); len(events) != 1 || len(closed) != 1 {
		t.Fatalf("unexpected events %+v and closing messages %+v", events, closed)
	}
	if unbounded.Load() {
		t.Fatalf("Dial got a context without a deadline within %v", dialTimeout)
	}
}

// TestIdleWriterWakes alternates idle spells, long enough for the writer to
// stop lingering and sleep, with single events: each must still be written
// promptly (a lost wake-up would leave it in the buffer).
func TestIdleWriterWakes(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial})
	for i := 1; i <= 40; i++ {
		time.Sleep(time.Duration(maxIdleTicks+3) * lingerTick)
		ev := testEvent(i)
		if !e.Emit(&ev) {
			t.Fatalf("event %d dropped", i)
		}
		waitFor(t, "the event to be written", func() bool { return e.Stats().Sent == uint64(i) })
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestEveryKindEmits: each kind's Emit method and EmitMemberWait deliver
// the event, with the event time its kind takes (its own field, or now),
// and the labels the caller changes after Emit returns are not the ones
// delivered.
func TestEveryKindEmits(t *testing.T) {
	l := listenPipe(t, false)
	e := newEmitter(t, Options{Dial: l.dial, EmitterID: [16]byte{4}})
	md := []wire.Label{{Key: "zone", Value: "a"}}
	state := wire.InstanceState{IntervalStartNs: 100, IntervalEndNs: 15e9 + 100, ActiveNs: 15e9, DeploymentKey: "d", InstanceMetadata: md}
	before := time.Now().Add(-time.Second).UnixNano() // the coarse clock may lag a few ticks
	e.EmitInstanceState(&state)
	md[0].Value = "changed after Emit"
	e.EmitSetupRun(&wire.SetupRun{Status: wire.SetupReady, CompletedAtNs: 77})
	e.EmitPrediction(&wire.Prediction{Status: wire.PredictionSucceeded, CompletedAtNs: 88})
	e.EmitDownload(&wire.Download{URL: "https://x/y", Host: "x"})
	at := time.Unix(1_700_000_000, 9)
	if err := e.EmitMemberWait(context.Background(), at, wire.PredictionMember(&wire.Prediction{PredictionID: "p"})); err != nil {
		t.Fatal(err)
	}
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	evs, _ := l.received()
	if len(evs) != 5 {
		t.Fatalf("received %d events; want 5", len(evs))
	}
	kinds := []wire.Kind{wire.KindInstanceState, wire.KindSetupRun, wire.KindPrediction, wire.KindDownload, wire.KindPrediction}
	for i, k := range kinds {
		if evs[i].Kind != k {
			t.Fatalf("event %d: kind %v; want %v", i, evs[i].Kind, k)
		}
	}
	if evs[0].TimestampNs != 15e9+100 || evs[1].TimestampNs != 77 || evs[2].TimestampNs != 88 ||
		evs[3].TimestampNs < before || evs[4].TimestampNs != at.UnixNano() {
		t.Fatalf("event times %d %d %d %d %d", evs[0].TimestampNs, evs[1].TimestampNs, evs[2].TimestampNs, evs[3].TimestampNs, evs[4].TimestampNs)
	}
	if got := evs[0].InstanceState.InstanceMetadata; len(got) != 1 || got[0].Value != "a" {
		t.Fatalf("delivered labels %+v; want the ones at Emit", got)
	}
}
