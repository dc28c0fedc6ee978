package instancestate

import (
	"context"
	"errors"
	"math/rand/v2"
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

// t0 is where the tests' timelines start, in Unix ns.
const t0 = 1_700_000_000_000_000_000

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	ns int64
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(0, c.ns)
}

// at sets the clock to t0+off.
func (c *fakeClock) at(off int64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ns = t0 + off
	return time.Unix(0, c.ns)
}

// recorder is a Sink that keeps every report and checks the sum identity
// on each one as it arrives.
type recorder struct {
	t      testing.TB
	mu     sync.Mutex
	events []wire.InstanceState
	refuse bool
}

func (r *recorder) EmitInstanceState(ev *wire.InstanceState) bool {
	r.t.Helper()
	checkIdentity(r.t, ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.events = append(r.events, *ev)
	return true
}

func (r *recorder) got() []wire.InstanceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.InstanceState(nil), r.events...)
}

func checkIdentity(t testing.TB, ev *wire.InstanceState) {
	t.Helper()
	if ev.IntervalEndNs <= ev.IntervalStartNs {
		t.Errorf("unexpected empty interval [%d, %d]", ev.IntervalStartNs, ev.IntervalEndNs)
	}
	if sum, want := ev.ActiveNs+ev.BootNs+ev.IdleNs, uint64(ev.IntervalEndNs-ev.IntervalStartNs); sum != want {
		t.Errorf("active %d + boot %d + idle %d = %d; want the interval's %d ns", ev.ActiveNs, ev.BootNs, ev.IdleNs, sum, want)
	}
}

// checkContiguous checks that each report starts where the previous ended.
func checkContiguous(t *testing.T, evs []wire.InstanceState, start int64) {
	t.Helper()
	for i, ev := range evs {
		if ev.IntervalStartNs != start {
			t.Fatalf("report %d: unexpected interval start; got %d; want %d", i, ev.IntervalStartNs, start)
		}
		start = ev.IntervalEndNs
	}
}

// newMonitor returns a monitor created at t0 on a fake clock.
func newMonitor(t *testing.T) (*Monitor, *fakeClock, *recorder) {
	t.Helper()
	clk := &fakeClock{ns: t0}
	rec := &recorder{t: t}
	m, err := New(Options{Sink: rec, Clock: clk.now, DeploymentKey: "dk", InstanceID: "i-1",
		Metadata: []wire.Label{{Key: "pod", Value: "p-1"}}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(m.Close)
	return m, clk, rec
}

// step is one thing that happens at a time on a timeline, in ns after t0.
type step struct {
	at int64
	op string // start, finish, setup or tick
}

// report is the part of a wire.InstanceState a timeline test predicts.
type report struct {
	start, end, active, boot, idle, concurrency int64
}

func (r report) of(ev wire.InstanceState) report {
	return report{ev.IntervalStartNs - t0, ev.IntervalEndNs - t0, int64(ev.ActiveNs), int64(ev.BootNs), int64(ev.IdleNs), int64(ev.ConcurrencyNs)}
}

func run(t *testing.T, m *Monitor, clk *fakeClock, steps []step) {
	t.Helper()
	for _, s := range steps {
		now := clk.at(s.at)
		switch s.op {
		case "start":
			m.Start()
		case "finish":
			if err := m.Finish(); err != nil {
				t.Fatalf("finish at %d: %v", s.at, err)
			}
		case "setup":
			m.SetupDone()
		case "tick":
			m.Tick(now)
		default:
			t.Fatalf("unknown op %q", s.op)
		}
	}
}

// TestTimelines checks reports against timelines computed by hand.
func TestTimelines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		want  []report
	}{
		{
			name:  "boot only",
			steps: []step{{100, "tick"}},
			want:  []report{{start: 0, end: 100, boot: 100}},
		},
		{
			// Level 1 on [10,20), 2 on [20,50), 1 on [50,70): active 60,
			// concurrency 10 + 60 + 20.
			name:  "overlapping predictions",
			steps: []step{{0, "setup"}, {10, "start"}, {20, "start"}, {50, "finish"}, {70, "finish"}, {100, "tick"}},
			want:  []report{{start: 0, end: 100, active: 60, idle: 40, concurrency: 90}},
		},
		{
			name: "a prediction spanning three intervals",
			steps: []step{{0, "setup"}, {10, "start"}, {100, "tick"}, {200, "tick"},
				{250, "finish"}, {300, "tick"}},
			want: []report{
				{start: 0, end: 100, active: 90, idle: 10, concurrency: 90},
				{start: 100, end: 200, active: 100, concurrency: 100},
				{start: 200, end: 300, active: 50, idle: 50, concurrency: 50},
			},
		},
		{
			// A prediction runs from 20 to 70 and setup ends at 40: boot
			// until 40 although it ran, active after, and it counts
			// toward concurrency all along.
			name:  "setup ends mid-interval under a prediction",
			steps: []step{{20, "start"}, {40, "setup"}, {70, "finish"}, {100, "tick"}},
			want:  []report{{start: 0, end: 100, active: 30, boot: 40, idle: 30, concurrency: 50}},
		},
		{
			name:  "setup ends mid-interval, nothing running",
			steps: []step{{30, "setup"}, {100, "tick"}, {130, "setup"}, {150, "tick"}},
			want:  []report{{start: 0, end: 100, boot: 30, idle: 70}, {start: 100, end: 150, idle: 50}},
		},
		{
			// Odd nanoseconds, to catch any rounding.
			name: "nanosecond exact",
			steps: []step{{1, "start"}, {3, "setup"}, {4, "start"}, {7, "finish"}, {11, "tick"},
				{13, "start"}, {17, "finish"}, {19, "finish"}, {23, "tick"}},
			// [0,1) boot 0, [1,3) boot 1, [3,4) active 1, [4,7) active 2,
			// [7,11) active 1; then level 1 on [11,13), 2 on [13,17), 1 on
			// [17,19), idle on [19,23).
			want: []report{
				{start: 0, end: 11, active: 8, boot: 3, concurrency: 2 + 1 + 6 + 4},
				{start: 11, end: 23, active: 8, idle: 4, concurrency: 2 + 8 + 2},
			},
		},
		{
			name:  "an empty interval is not reported",
			steps: []step{{0, "setup"}, {50, "tick"}, {50, "tick"}, {60, "tick"}},
			want:  []report{{start: 0, end: 50, idle: 50}, {start: 50, end: 60, idle: 10}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clk, rec := newMonitor(t)
			run(t, m, clk, tc.steps)
			got := rec.got()
			if len(got) != len(tc.want) {
				t.Fatalf("unexpected report count; got %d; want %d: %+v", len(got), len(tc.want), got)
			}
			for i, ev := range got {
				if r := (report{}).of(ev); r != tc.want[i] {
					t.Fatalf("report %d: got %+v; want %+v", i, r, tc.want[i])
				}
				if ev.DeploymentKey != "dk" || ev.InstanceID != "i-1" || len(ev.InstanceMetadata) != 1 || ev.InstanceMetadata[0].Value != "p-1" {
					t.Fatalf("report %d: unexpected identity %+v", i, ev)
				}
			}
		})
	}
}

// TestRandomTimelines compares the monitor with a model that walks the
// timeline one nanosecond at a time.
func TestRandomTimelines(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		m, clk, rec := newMonitor(t)
		var want []report
		var cur report
		level, setUp, at := int64(0), false, int64(0)
		for range 60 {
			next := at + rng.Int64N(20)
			for ; at < next; at++ { // one nanosecond at a time
				switch {
				case !setUp:
					cur.boot++
				case level > 0:
					cur.active++
				default:
					cur.idle++
				}
				cur.concurrency += level
			}
			clk.at(at)
			switch op := rng.IntN(10); {
			case op < 4:
				m.Start()
				level++
			case op < 7:
				err := m.Finish()
				if (err != nil) != (level == 0) {
					t.Fatalf("iteration %d: unexpected finish error %v at level %d", iter, err, level)
				}
				level = max(0, level-1)
			case op < 8:
				m.SetupDone()
				setUp = true
			default:
				m.Tick(clk.now())
				if at > cur.start {
					cur.end = at
					want = append(want, cur)
				}
				cur = report{start: at}
			}
		}
		got := rec.got()
		if len(got) != len(want) {
			t.Fatalf("iteration %d: unexpected report count; got %d; want %d", iter, len(got), len(want))
		}
		for i := range got {
			if r := (report{}).of(got[i]); r != want[i] {
				t.Fatalf("iteration %d, report %d: got %+v; want %+v", iter, i, r, want[i])
			}
		}
		if s := m.Stats(); s.Level != level {
			t.Fatalf("iteration %d: unexpected level; got %d; want %d", iter, s.Level, level)
		}
	}
}

// TestExplicitTimes drives the monitor with StartAt and FinishAt: a time
// before the latest change counts as that change's time.
func TestExplicitTimes(t *testing.T) {
	m, _, rec := newMonitor(t)
	m.SetupDone()
	at := func(off int64) time.Time { return time.Unix(0, t0+off) }
	m.StartAt(at(10))
	m.StartAt(at(20))
	if err := m.FinishAt(at(15)); err != nil { // arrives late: counts at 20
		t.Fatalf("finish: %v", err)
	}
	if err := m.FinishAt(at(50)); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if err := m.FinishAt(at(60)); !errors.Is(err, ErrUnmatchedFinish) {
		t.Fatalf("unexpected error %v; want ErrUnmatchedFinish", err)
	}
	m.Tick(at(100))
	want := report{start: 0, end: 100, active: 40, idle: 60, concurrency: 40}
	if got := rec.got(); len(got) != 1 || (report{}).of(got[0]) != want {
		t.Fatalf("unexpected reports %+v; want one %+v", got, want)
	}
}

func TestFinishWithoutStart(t *testing.T) {
	m, clk, rec := newMonitor(t)
	m.SetupDone()
	clk.at(10)
	if err := m.Finish(); !errors.Is(err, ErrUnmatchedFinish) {
		t.Fatalf("unexpected error %v; want ErrUnmatchedFinish", err)
	}
	if s := m.Stats(); s.Level != 0 || s.UnmatchedFinishes != 1 {
		t.Fatalf("unexpected stats %+v; want level 0 and one unmatched finish", s)
	}
	clk.at(20)
	m.Start()
	clk.at(30)
	if err := m.Finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if err := m.Finish(); !errors.Is(err, ErrUnmatchedFinish) {
		t.Fatalf("unexpected error %v; want ErrUnmatchedFinish", err)
	}
	if s := m.Stats(); s.Level != 0 || s.UnmatchedFinishes != 2 {
		t.Fatalf("unexpected stats %+v; want level 0 and two unmatched finishes", s)
	}
	if st := m.State(); st != Idle {
		t.Fatalf("unexpected state %v; want idle", st)
	}
	m.Tick(clk.at(40))
	want := report{start: 0, end: 40, active: 10, idle: 30, concurrency: 10}
	if got := rec.got(); len(got) != 1 || (report{}).of(got[0]) != want {
		t.Fatalf("unexpected reports %+v; want one %+v", got, want)
	}
}

func TestStates(t *testing.T) {
	m, _, _ := newMonitor(t)
	for _, tc := range []struct {
		do   func()
		want State
	}{
		{func() {}, Boot},
		{m.Start, Boot},
		{m.SetupDone, Active},
		{func() { _ = m.Finish() }, Idle},
		{m.Start, Active},
	} {
		tc.do()
		if got := m.State(); got != tc.want {
			t.Fatalf("unexpected state; got %v; want %v", got, tc.want)
		}
	}
}

func TestCloseReportsTheLastInterval(t *testing.T) {
	m, clk, rec := newMonitor(t)
	m.SetupDone()
	m.Tick(clk.at(100))
	clk.at(130)
	m.Start()
	clk.at(142)
	m.Close()
	m.Close()
	if m.Tick(clk.at(200)) {
		t.Fatalf("Tick after Close reported")
	}
	got := rec.got()
	want := report{start: 100, end: 142, active: 12, idle: 30, concurrency: 12}
	if len(got) != 2 || (report{}).of(got[1]) != want {
		t.Fatalf("unexpected reports %+v; want the last %+v", got, want)
	}
}

func TestDroppedReportsAreCounted(t *testing.T) {
	m, clk, rec := newMonitor(t)
	rec.refuse = true
	if m.Tick(clk.at(10)) {
		t.Fatalf("Tick reported success for a refused report")
	}
	rec.refuse = false
	if !m.Tick(clk.at(20)) {
		t.Fatalf("Tick reported failure for an accepted report")
	}
	if s := m.Stats(); s.Reports != 1 || s.Dropped != 1 {
		t.Fatalf("unexpected stats %+v; want one report and one dropped", s)
	}
}

// TestRunConcurrent runs predictions from several goroutines on the real
// clock while Run reports every millisecond: every report holds the
// identity, reports are contiguous, and the level returns to 0.
func TestRunConcurrent(t *testing.T) {
	rec := &recorder{t: t}
	m, err := New(Options{Sink: rec, Interval: time.Millisecond})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		m.Run(ctx)
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				m.Start()
				if i%100 == 0 && g == 0 {
					m.SetupDone()
					time.Sleep(100 * time.Microsecond)
				}
				if err := m.Finish(); err != nil {
					t.Errorf("finish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(3 * time.Millisecond) // at least one tick, most likely
	m.Close()
	<-runDone
	got := rec.got()
	if len(got) == 0 {
		t.Fatalf("no reports")
	}
	checkContiguous(t, got, got[0].IntervalStartNs)
	var total, concurrency uint64
	for _, ev := range got {
		total += uint64(ev.IntervalEndNs - ev.IntervalStartNs)
		concurrency += ev.ConcurrencyNs
	}
	if concurrency > 4*total {
		t.Fatalf("unexpected concurrency %d ns over %d ns with 4 goroutines", concurrency, total)
	}
	if s := m.Stats(); s.Level != 0 || s.UnmatchedFinishes != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
}

// TestRunEndsWithContext checks that Run returns when its context ends,
// and that Close still reports afterwards.
func TestRunEndsWithContext(t *testing.T) {
	m, clk, rec := newMonitor(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Run(ctx)
	clk.at(5)
	m.Close()
	m.Run(context.Background()) // returns at once after Close
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("unexpected reports %+v; want one from Close", got)
	}
}

func TestStartFinishDoNotAllocate(t *testing.T) {
	m, err := New(Options{Sink: &recorder{t: t}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	defer m.Close()
	if n := testing.AllocsPerRun(1000, func() {
		m.Start()
		_ = m.Finish()
	}); n != 0 {
		t.Fatalf("unexpected allocations per Start and Finish; got %v; want 0", n)
	}
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		m.StartAt(now)
		_ = m.FinishAt(now)
	}); n != 0 {
		t.Fatalf("unexpected allocations per StartAt and FinishAt; got %v; want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = m.Finish() }); n != 0 {
		t.Fatalf("unexpected allocations per unmatched Finish; got %v; want 0", n)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	sink := &recorder{t: t}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no sink", Options{}, "Sink is required"},
		{"negative interval", Options{Sink: sink, Interval: -time.Second}, "negative interval"},
		{"invalid UTF-8", Options{Sink: sink, InstanceID: "\xff"}, "cannot be reported"},
		{"too many labels", Options{Sink: sink, Metadata: make([]wire.Label, wire.MaxLabels+1)}, "cannot be reported"},
		{"too large", Options{Sink: sink, Version: strings.Repeat("v", wire.DefaultMaxMessageSize)}, "cannot be reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewCopiesMetadata(t *testing.T) {
	md := []wire.Label{{Key: "pod", Value: "p-1"}}
	clk := &fakeClock{ns: t0}
	rec := &recorder{t: t}
	m, err := New(Options{Sink: rec, Clock: clk.now, Metadata: md})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	md[0].Value = "changed"
	m.Tick(clk.at(1))
	if got := rec.got(); got[0].InstanceMetadata[0].Value != "p-1" {
		t.Fatalf("unexpected metadata %+v; want the value at New", got[0].InstanceMetadata)
	}
}
