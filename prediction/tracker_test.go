package prediction

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/readout-dev/readout/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is when the tests' predictions start, in Unix ns.
const t0 = 1_700_000_000_000_000_000

type fakeClock struct {
	mu sync.Mutex
	ns int64
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(0, c.ns)
}

func (c *fakeClock) set(off time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ns = t0 + int64(off)
}

// recorder is a Sink that keeps every report.
type recorder struct {
	mu     sync.Mutex
	events []wire.Prediction
}

func (r *recorder) EmitPrediction(ev *wire.Prediction) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, *ev)
	return true
}

func (r *recorder) got() []wire.Prediction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Prediction(nil), r.events...)
}

func newTracker(t *testing.T) (*Tracker, *fakeClock, *recorder) {
	t.Helper()
	clk := &fakeClock{ns: t0}
	rec := &recorder{}
	tr, err := New(Options{Sink: rec, Clock: clk.now, PredictionID: "p-1", DeploymentKey: "acme/llama", Version: "v42",
		CreatedAt: time.Unix(0, t0-int64(time.Second))})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { _ = tr.Stop() })
	return tr, clk, rec
}

// collect reads a subscription to its end, in a goroutine; wait returns
// what it read.
func collect(ch <-chan Update, each func()) (wait func() []Update) {
	var got []Update
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			got = append(got, u)
			each()
		}
	}()
	return func() []Update {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			panic("subscription never ended")
		}
		return got
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSubscribersSeeEveryUpdateInOrder runs a fast and a slow subscriber
// through a prediction: each sees Started, every output in order, and one
// Completed that is the report, and then its channel closes.
func TestSubscribersSeeEveryUpdateInOrder(t *testing.T) {
	tr, clk, rec := newTracker(t)
	fastCh, _ := tr.Subscribe()
	slowCh, _ := tr.Subscribe()
	fast := collect(fastCh, func() {})
	slow := collect(slowCh, func() { time.Sleep(10 * time.Microsecond) })
	const n = 500
	for i := range n {
		must(t, tr.Output(fmt.Appendf(nil, "token %d", i)))
	}
	must(t, tr.SetTokens(12, n))
	clk.set(3 * time.Second)
	must(t, tr.Succeed())
	clk.set(4 * time.Second) // Stop's time is not the completion's
	must(t, tr.Stop())

	evs := rec.got()
	if len(evs) != 1 {
		t.Fatalf("unexpected reports %+v; want one", evs)
	}
	want := wire.Prediction{PredictionID: "p-1", DeploymentKey: "acme/llama", Version: "v42",
		Status: wire.PredictionSucceeded, CreatedAtNs: t0 - int64(time.Second), StartedAtNs: t0,
		CompletedAtNs: t0 + int64(3*time.Second), InputTokens: 12, OutputTokens: n}
	if !reflect.DeepEqual(evs[0], want) {
		t.Fatalf("got report %+v; want %+v", evs[0], want)
	}
	for name, got := range map[string][]Update{"fast": fast(), "slow": slow()} {
		if len(got) != n+2 {
			t.Fatalf("%s: unexpected update count; got %d; want %d", name, len(got), n+2)
		}
		if got[0].Kind != Started || got[0].Prediction.Status != wire.PredictionProcessing {
			t.Fatalf("%s: unexpected first update %+v", name, got[0])
		}
		for i, u := range got[1 : n+1] {
			if u.Kind != Output || string(u.Output) != fmt.Sprintf("token %d", i) {
				t.Fatalf("%s: unexpected update %d: %v %q", name, i+1, u.Kind, u.Output)
			}
		}
		if last := got[n+1]; last.Kind != Completed || !reflect.DeepEqual(last.Prediction, want) {
			t.Fatalf("%s: unexpected last update %+v", name, last)
		}
	}
}

// TestSecondCompletionIsRefused: the first terminal transition wins;
// later ones and Output are refused, the billing setters still work.
func TestSecondCompletionIsRefused(t *testing.T) {
	for _, first := range []struct {
		name   string
		do     func(*Tracker) error
		status wire.PredictionStatus
	}{
		{"succeed", (*Tracker).Succeed, wire.PredictionSucceeded},
		{"fail", func(tr *Tracker) error { return tr.Fail("E1234") }, wire.PredictionFailed},
		{"cancel", func(tr *Tracker) error { return tr.Cancel("user") }, wire.PredictionCanceled},
		{"abort", func(tr *Tracker) error { return tr.Abort("deadline") }, wire.PredictionAborted},
	} {
		t.Run(first.name, func(t *testing.T) {
			tr, _, rec := newTracker(t)
			must(t, first.do(tr))
			for _, again := range []func() error{tr.Succeed, func() error { return tr.Fail("E9") },
				func() error { return tr.Cancel("x") }, func() error { return tr.Abort("y") },
				func() error { return tr.Output([]byte("late")) }} {
				if err := again(); !errors.Is(err, ErrFinished) || !strings.Contains(err.Error(), first.status.String()) {
					t.Fatalf("unexpected error %v; want ErrFinished naming %v", err, first.status)
				}
			}
			must(t, tr.SetTokens(1, 2))
			must(t, tr.AddImages(3))
			must(t, tr.SetAttribute("moderation", "passed"))
			must(t, tr.Stop())
			evs := rec.got()
			if len(evs) != 1 || evs[0].Status != first.status || evs[0].OutputTokens != 2 || evs[0].ImageCount != 3 ||
				len(evs[0].Attributes) != 1 {
				t.Fatalf("unexpected reports %+v", evs)
			}
		})
	}
}

func TestTerminalFields(t *testing.T) {
	for _, tc := range []struct {
		name         string
		do           func(*Tracker) error
		code, reason string
	}{
		{"fail", func(tr *Tracker) error { return tr.Fail("E1234") }, "E1234", ""},
		{"cancel", func(tr *Tracker) error { return tr.Cancel("canceled by user") }, "", "canceled by user"},
		{"abort", func(tr *Tracker) error { return tr.Abort("instance lost") }, "", "instance lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, clk, rec := newTracker(t)
			clk.set(time.Second)
			must(t, tc.do(tr))
			must(t, tr.Stop())
			ev := rec.got()[0]
			if ev.ErrorCode != tc.code || ev.CancelReason != tc.reason || ev.CompletedAtNs != t0+int64(time.Second) {
				t.Fatalf("unexpected report %+v", ev)
			}
		})
	}
}

// TestCompletedIsHeldUntilStop: after Succeed a subscriber gets nothing
// until Stop, then Completed once.
func TestCompletedIsHeldUntilStop(t *testing.T) {
	tr, _, _ := newTracker(t)
	ch, _ := tr.Subscribe()
	if u := <-ch; u.Kind != Started {
		t.Fatalf("unexpected first update %+v", u)
	}
	must(t, tr.Succeed())
	select {
	case u := <-ch:
		t.Fatalf("an update %v before Stop", u.Kind)
	case <-time.After(20 * time.Millisecond):
	}
	must(t, tr.Stop())
	must(t, tr.Stop())
	if u := <-ch; u.Kind != Completed || u.Prediction.Status != wire.PredictionSucceeded {
		t.Fatalf("unexpected update %+v; want Completed", u)
	}
	if u, ok := <-ch; ok {
		t.Fatalf("an update %+v after Completed", u)
	}
}

func TestStopWhileProcessingAborts(t *testing.T) {
	tr, clk, rec := newTracker(t)
	clk.set(5 * time.Second)
	must(t, tr.Stop())
	ev := rec.got()[0]
	if ev.Status != wire.PredictionAborted || ev.CancelReason != StoppedReason || ev.CompletedAtNs != t0+int64(5*time.Second) {
		t.Fatalf("unexpected report %+v", ev)
	}
}

// TestExactlyOneReport stops a prediction from many goroutines at once.
func TestExactlyOneReport(t *testing.T) {
	tr, _, rec := newTracker(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := tr.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	wg.Wait()
	if evs := rec.got(); len(evs) != 1 {
		t.Fatalf("unexpected report count %d; want 1", len(evs))
	}
}

func TestAfterStop(t *testing.T) {
	tr, _, rec := newTracker(t)
	must(t, tr.Stop())
	for name, err := range map[string]error{
		"output": tr.Output(nil), "tokens": tr.SetTokens(1, 1), "images": tr.AddImages(1),
		"attribute": tr.SetAttribute("k", "v"), "succeed": tr.Succeed(), "cancel": tr.Cancel("x"),
	} {
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("%s: unexpected error %v; want ErrStopped", name, err)
		}
	}
	ch, cancel := tr.Subscribe()
	if u, ok := <-ch; ok {
		t.Fatalf("an update %+v after Stop", u)
	}
	cancel()
	if len(rec.got()) != 1 {
		t.Fatalf("a second report")
	}
}

// TestCancelSubscription: a canceled subscription's channel closes and
// the others go on.
func TestCancelSubscription(t *testing.T) {
	tr, _, _ := newTracker(t)
	gone, cancel := tr.Subscribe()
	stays, _ := tr.Subscribe()
	rest := collect(stays, func() {})
	<-gone // Started
	must(t, tr.Output([]byte("a")))
	cancel()
	cancel()
	for range gone { // at most the output, then closed
	}
	must(t, tr.Output([]byte("b")))
	must(t, tr.Stop())
	if got := rest(); len(got) != 4 || got[3].Kind != Completed {
		t.Fatalf("unexpected updates %+v; want started, 2 outputs, completed", got)
	}
}

// TestConcurrentCallers calls the tracker from several goroutines while a
// subscriber reads: each goroutine's outputs arrive in its order, and
// everything before the cancel is delivered.
func TestConcurrentCallers(t *testing.T) {
	tr, _, rec := newTracker(t)
	ch, _ := tr.Subscribe()
	updates := collect(ch, func() {})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := tr.Output(fmt.Appendf(nil, "%d %d", g, i)); err != nil {
					if !errors.Is(err, ErrFinished) {
						t.Errorf("output: %v", err)
					}
					return
				}
				if err := tr.SetAttribute(fmt.Sprint("writer ", g), fmt.Sprint(i)); err != nil {
					t.Errorf("attribute: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	must(t, tr.Cancel("user"))
	wg.Wait()
	must(t, tr.Stop())
	got := updates()
	next := map[int]int{}
	for _, u := range got[1 : len(got)-1] {
		var g, i int
		if _, err := fmt.Sscanf(string(u.Output), "%d %d", &g, &i); err != nil || u.Kind != Output || i != next[g] {
			t.Fatalf("unexpected update %v %q; want output %d of writer %d", u.Kind, u.Output, next[g], g)
		}
		next[g]++
	}
	last := got[len(got)-1]
	if last.Kind != Completed || last.Prediction.Status != wire.PredictionCanceled || len(last.Prediction.Attributes) != 4 {
		t.Fatalf("unexpected last update %+v", last)
	}
	if evs := rec.got(); len(evs) != 1 || !reflect.DeepEqual(evs[0], last.Prediction) {
		t.Fatalf("unexpected reports %+v", evs)
	}
}

func TestAttributes(t *testing.T) {
	tr, _, rec := newTracker(t)
	ch, _ := tr.Subscribe()
	updates := collect(ch, func() {})
	must(t, tr.SetAttribute("moderation", "pending"))
	must(t, tr.SetAttribute("compliance", "ok"))
	must(t, tr.Output([]byte("x")))
	must(t, tr.SetAttribute("moderation", "passed"))
	for name, err := range map[string]error{
		"invalid key":   tr.SetAttribute("\xff", "v"),
		"invalid value": tr.SetAttribute("k", "\xff"),
		"too large":     tr.SetAttribute("k", strings.Repeat("v", wire.DefaultMaxMessageSize-MaxReasonBytes)),
	} {
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	must(t, tr.Stop())
	want := []wire.Label{{Key: "moderation", Value: "passed"}, {Key: "compliance", Value: "ok"}}
	if ev := rec.got()[0]; !reflect.DeepEqual(ev.Attributes, want) {
		t.Fatalf("unexpected attributes %+v; want %+v", ev.Attributes, want)
	}
	// The output's update keeps the attributes it was sent with.
	got := updates()
	if a := got[1].Prediction.Attributes; len(a) != 2 || a[0].Value != "pending" {
		t.Fatalf("an earlier update's attributes changed: %+v", a)
	}
}

func TestTooManyAttributes(t *testing.T) {
	tr, _, _ := newTracker(t)
	for i := range wire.MaxLabels {
		must(t, tr.SetAttribute(fmt.Sprint(i), ""))
	}
	if err := tr.SetAttribute("one more", ""); err == nil {
		t.Fatalf("attribute %d accepted", wire.MaxLabels+1)
	}
}

// TestReportAlwaysFits fills the attributes to the limit: the longest
// reason still makes a report the forwarder accepts.
func TestReportAlwaysFits(t *testing.T) {
	tr, _, rec := newTracker(t)
	value := strings.Repeat("v", 1000)
	for i := 0; ; i++ {
		if err := tr.SetAttribute(fmt.Sprint(i), value); err != nil {
			break
		}
	}
	if err := tr.Cancel(strings.Repeat("r", MaxReasonBytes+1)); err == nil {
		t.Fatalf("a reason over MaxReasonBytes accepted")
	}
	if err := tr.Cancel("\xff"); err == nil {
		t.Fatalf("a reason that is not UTF-8 accepted")
	}
	must(t, tr.Cancel(strings.Repeat("r", MaxReasonBytes)))
	must(t, tr.Stop())
	ev := rec.got()[0]
	if err := wire.PredictionMember(&ev).Check(wire.DefaultMaxMessageSize); err != nil {
		t.Fatalf("the report would be refused: %v", err)
	}
}

func TestAddImagesSaturates(t *testing.T) {
	tr, _, rec := newTracker(t)
	must(t, tr.AddImages(2))
	must(t, tr.AddImages(^uint32(0)))
	must(t, tr.Stop())
	if n := rec.got()[0].ImageCount; n != ^uint32(0) {
		t.Fatalf("unexpected image count %d; want the maximum", n)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no sink", Options{}, "Sink is required"},
		{"invalid UTF-8", Options{Sink: &recorder{}, PredictionID: "\xff"}, "cannot be reported"},
		{"too large", Options{Sink: &recorder{}, Version: strings.Repeat("v", wire.DefaultMaxMessageSize)}, "cannot be reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error %v; want one containing %q", err, tc.want)
			}
		})
	}
}
