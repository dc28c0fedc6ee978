package endpoints_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/readout-dev/readout/endpoints"
	"github.com/readout-dev/readout/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is where the tests' timelines start, in Unix ns.
const t0 = 1_700_000_000_000_000_000

const host = "gpu-7.colo-a"

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
func (c *fakeClock) at(off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ns = t0 + off
}

// event is the part of a wire.Lifecycle a test predicts, times relative to
// t0; end is -t0 for an appearance (EndTs 0).
type event struct {
	model, endpoint string
	begin, end      int64
}

const open = -t0 // event.end of an appearance

func appear(model, ep string, begin int64) event { return event{model, ep, begin, open} }

func disappear(model, ep string, begin, end int64) event { return event{model, ep, begin, end} }

// recorder is a Sink that keeps every event, checks the fields the test
// does not predict, and refuses events while refuse is set.
type recorder struct {
	t      testing.TB
	mu     sync.Mutex
	events []wire.Lifecycle
	refuse bool
}

func (r *recorder) EmitLifecycle(ev *wire.Lifecycle) bool {
	r.t.Helper()
	if ev.EventType != wire.LifecycleEndpoint || ev.Hostname != host {
		r.t.Errorf("unexpected event type %d or hostname %q", ev.EventType, ev.Hostname)
	}
	if ev.EndTs != 0 && ev.EndTs < ev.BeginTs {
		r.t.Errorf("presence of %q %q ends at %d, before its begin %d", ev.ModelID, ev.Endpoint, ev.EndTs, ev.BeginTs)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.events = append(r.events, *ev)
	return true
}

func (r *recorder) setRefuse(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = v
}

// take returns the events since the last take, relative to t0.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, ev := range r.events {
		out = append(out, event{ev.ModelID, ev.Endpoint, ev.BeginTs - t0, ev.EndTs - t0})
	}
	r.events = nil
	return out
}

// newTracker returns a tracker created at t0 on a fake clock.
func newTracker(t *testing.T, opts endpoints.Options) (*endpoints.Tracker, *fakeClock, *recorder) {
	t.Helper()
	clk := &fakeClock{ns: t0}
	rec := &recorder{t: t}
	opts.Sink, opts.Clock, opts.Hostname = rec, clk.now, host
	tr, err := endpoints.New(opts)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return tr, clk, rec
}

// step is a Refresh at t0+at with a map, and the events it must emit.
type step struct {
	at   int64
	m    map[string][]string
	want []event
}

func run(t *testing.T, tr *endpoints.Tracker, clk *fakeClock, rec *recorder, steps []step) {
	t.Helper()
	for i, s := range steps {
		clk.at(s.at)
		tr.Refresh(s.m)
		if got := rec.take(); !reflect.DeepEqual(got, s.want) {
			t.Fatalf("refresh %d at %d: unexpected events\ngot  %v\nwant %v", i, s.at, got, s.want)
		}
	}
}

func TestRefresh(t *testing.T) {
	const (
		llama   = "@cf/meta/llama-2-7b"
		whisper = "@cf/openai/whisper"
		a       = "10.0.0.1:8000"
		b       = "10.0.0.2:8000"
		c       = "10.0.0.3:8000"
	)
	cases := []struct {
		name  string
		steps []step
	}{
		{"appear then disappear", []step{
			{1e9, map[string][]string{llama: {a}}, []event{appear(llama, a, 1e9)}},
			{2e9, map[string][]string{llama: {a}}, nil},
			{3e9, map[string][]string{}, []event{disappear(llama, a, 1e9, 3e9)}},
			{4e9, nil, nil},
		}},
		{"exact times and sorted order", []step{
			{5, map[string][]string{whisper: {b, a}, llama: {c}}, []event{
				appear(llama, c, 5), appear(whisper, a, 5), appear(whisper, b, 5)}},
			{17, map[string][]string{whisper: {b, c}}, []event{ // disappearances first
				disappear(llama, c, 5, 17), disappear(whisper, a, 5, 17), appear(whisper, c, 17)}},
			{1e9 + 3, map[string][]string{}, []event{
				disappear(whisper, b, 5, 1e9+3), disappear(whisper, c, 17, 1e9+3)}},
		}},
		{"duplicates within one refresh count once", []step{
			{1e9, map[string][]string{llama: {a, a, b, a}}, []event{appear(llama, a, 1e9), appear(llama, b, 1e9)}},
			{2e9, map[string][]string{llama: {b, b, a, b}}, nil},
			{3e9, map[string][]string{llama: {b, b}}, []event{disappear(llama, a, 1e9, 3e9)}},
		}},
		{"a model vanishing whole", []step{
			{1e9, map[string][]string{llama: {a, b, c}, whisper: {a}}, []event{
				appear(llama, a, 1e9), appear(llama, b, 1e9), appear(llama, c, 1e9), appear(whisper, a, 1e9)}},
			{2e9, map[string][]string{whisper: {a}}, []event{
				disappear(llama, a, 1e9, 2e9), disappear(llama, b, 1e9, 2e9), disappear(llama, c, 1e9, 2e9)}},
			{3e9, map[string][]string{llama: {}, whisper: {a}}, nil},
		}},
		{"a model listed with no endpoints ends them", []step{
			{1e9, map[string][]string{llama: {a}}, []event{appear(llama, a, 1e9)}},
			{2e9, map[string][]string{llama: nil}, []event{disappear(llama, a, 1e9, 2e9)}},
		}},
		{"flapping", []step{
			{1e9, map[string][]string{llama: {a, b}}, []event{appear(llama, a, 1e9), appear(llama, b, 1e9)}},
			{2e9, map[string][]string{llama: {b}}, []event{disappear(llama, a, 1e9, 2e9)}},
			{3e9, map[string][]string{llama: {a, b}}, []event{appear(llama, a, 3e9)}},
			{4e9, map[string][]string{llama: {b}}, []event{disappear(llama, a, 3e9, 4e9)}},
			{5e9, map[string][]string{llama: {a, b}}, []event{appear(llama, a, 5e9)}},
		}},
		{"one endpoint of two models is two presences", []step{
			{1e9, map[string][]string{llama: {a}, whisper: {a}}, []event{appear(llama, a, 1e9), appear(whisper, a, 1e9)}},
			{2e9, map[string][]string{llama: {a}}, []event{disappear(whisper, a, 1e9, 2e9)}},
		}},
		{"a clock that does not move still orders presences", []step{
			{1e9, map[string][]string{llama: {a}}, []event{appear(llama, a, 1e9)}},
			{1e9, map[string][]string{}, []event{disappear(llama, a, 1e9, 1e9+1)}},
			{1e9, map[string][]string{llama: {a}}, []event{appear(llama, a, 1e9+2)}},
			{1e9 - 5, map[string][]string{}, []event{disappear(llama, a, 1e9+2, 1e9+3)}}, // a clock going back too
			{2e9, map[string][]string{llama: {a}}, []event{appear(llama, a, 2e9)}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, clk, rec := newTracker(t, endpoints.Options{})
			run(t, tr, clk, rec, tc.steps)
		})
	}
}

func TestRefreshDoesNotRetainTheMap(t *testing.T) {
	tr, clk, rec := newTracker(t, endpoints.Options{})
	eps := []string{"a", "b"}
	m := map[string][]string{"m": eps}
	clk.at(1)
	tr.Refresh(m)
	eps[0] = "z"
	delete(m, "m")
	clk.at(2)
	tr.Refresh(map[string][]string{"m": {"a", "b"}})
	if got := rec.take(); len(got) != 2 {
		t.Fatalf("unexpected events %v; want the 2 appearances only", got)
	}
	if got, want := tr.Presences(), []endpoints.Presence{{"m", "a", t0 + 1}, {"m", "b", t0 + 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unexpected presences; got %v; want %v", got, want)
	}
}

func TestStats(t *testing.T) {
	tr, clk, rec := newTracker(t, endpoints.Options{})
	run(t, tr, clk, rec, []step{
		{1, map[string][]string{"m": {"a", "b", "b"}, "n": {"a"}}, []event{appear("m", "a", 1), appear("m", "b", 1), appear("n", "a", 1)}},
		{2, map[string][]string{"m": {"a"}}, []event{disappear("m", "b", 1, 2), disappear("n", "a", 1, 2)}},
	})
	want := endpoints.Stats{Present: 1, Refreshes: 2, Appeared: 3, Disappeared: 2}
	if got := tr.Stats(); got != want {
		t.Fatalf("unexpected stats; got %+v; want %+v", got, want)
	}
}

// TestRestartWithoutKnown: a crashed tracker's successor announces what it
// sees with new begin times and invents no disappearance.
func TestRestartWithoutKnown(t *testing.T) {
	clk := &fakeClock{ns: t0}
	rec := &recorder{t: t}
	old, err := endpoints.New(endpoints.Options{Sink: rec, Clock: clk.now, Hostname: host})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	run(t, old, clk, rec, []step{
		{1e9, map[string][]string{"m": {"a", "b"}}, []event{appear("m", "a", 1e9), appear("m", "b", 1e9)}},
	})
	// The old process dies without Close; b goes away, c appears.
	clk.at(9e9)
	tr, err := endpoints.New(endpoints.Options{Sink: rec, Clock: clk.now, Hostname: host})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if got := rec.take(); got != nil {
		t.Fatalf("New emitted %v", got)
	}
	run(t, tr, clk, rec, []step{
		{10e9, map[string][]string{"m": {"a", "c"}}, []event{appear("m", "a", 10e9), appear("m", "c", 10e9)}},
		{11e9, map[string][]string{"m": {"c"}}, []event{disappear("m", "a", 10e9, 11e9)}},
	})
}

// TestRestartWithKnown: a successor given its predecessor's Presences
// carries them on: nothing is announced twice, what went away is ended
// with its original begin.
func TestRestartWithKnown(t *testing.T) {
	clk := &fakeClock{ns: t0}
	rec := &recorder{t: t}
	old, err := endpoints.New(endpoints.Options{Sink: rec, Clock: clk.now, Hostname: host})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	run(t, old, clk, rec, []step{
		{1e9, map[string][]string{"m": {"a", "b"}}, []event{appear("m", "a", 1e9), appear("m", "b", 1e9)}},
		{2e9, map[string][]string{"m": {"a", "b"}, "n": {"a"}}, []event{appear("n", "a", 2e9)}},
	})
	saved := old.Presences() // what the caller persists after each Refresh
	want := []endpoints.Presence{{"m", "a", t0 + 1e9}, {"m", "b", t0 + 1e9}, {"n", "a", t0 + 2e9}}
	if !reflect.DeepEqual(saved, want) {
		t.Fatalf("unexpected presences; got %v; want %v", saved, want)
	}

	clk.at(9e9)
	tr, err := endpoints.New(endpoints.Options{Sink: rec, Clock: clk.now, Hostname: host, Known: saved})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	saved[0].BeginTs = 1 // New copied Known
	if got := tr.Stats().Present; got != 3 {
		t.Fatalf("unexpected presences at start; got %d; want 3", got)
	}
	run(t, tr, clk, rec, []step{
		// m/a carries on silently, m/b ends with its old begin, m/c is new.
		{10e9, map[string][]string{"m": {"a", "c"}, "n": {"a"}}, []event{disappear("m", "b", 1e9, 10e9), appear("m", "c", 10e9)}},
		{11e9, map[string][]string{"m": {"c"}}, []event{disappear("m", "a", 1e9, 11e9), disappear("n", "a", 2e9, 11e9)}},
	})
	if got := tr.Stats(); got.Appeared != 1 || got.Disappeared != 3 || got.Present != 1 {
		t.Fatalf("unexpected stats %+v", got)
	}
}

// TestKnownFromAClockAhead: a known presence that began after the
// successor's now ends where it began, not before.
func TestKnownFromAClockAhead(t *testing.T) {
	tr, clk, rec := newTracker(t, endpoints.Options{Known: []endpoints.Presence{{"m", "a", t0 + 5e9}}})
	run(t, tr, clk, rec, []step{
		{1e9, map[string][]string{}, []event{disappear("m", "a", 5e9, 5e9)}},
	})
}

func TestClose(t *testing.T) {
	t.Run("ends every presence", func(t *testing.T) {
		tr, clk, rec := newTracker(t, endpoints.Options{Known: []endpoints.Presence{{"k", "x", t0 - 1e9}}})
		run(t, tr, clk, rec, []step{
			{1e9, map[string][]string{"m": {"b", "a"}, "k": {"x"}}, []event{appear("m", "a", 1e9), appear("m", "b", 1e9)}},
		})
		clk.at(4e9)
		tr.Close()
		want := []event{disappear("k", "x", -1e9, 4e9), disappear("m", "a", 1e9, 4e9), disappear("m", "b", 1e9, 4e9)}
		if got := rec.take(); !reflect.DeepEqual(got, want) {
			t.Fatalf("unexpected events at close\ngot  %v\nwant %v", got, want)
		}
		if got := tr.Presences(); len(got) != 0 {
			t.Fatalf("unexpected presences after close: %v", got)
		}
		clk.at(5e9)
		tr.Close()
		tr.Refresh(map[string][]string{"m": {"c"}})
		if got := rec.take(); got != nil {
			t.Fatalf("unexpected events after close: %v", got)
		}
		if got, want := tr.Stats(), (endpoints.Stats{Refreshes: 1, Appeared: 2, Disappeared: 3}); got != want {
			t.Fatalf("unexpected stats; got %+v; want %+v", got, want)
		}
	})
	t.Run("in the same instant as a refresh", func(t *testing.T) {
		tr, clk, rec := newTracker(t, endpoints.Options{})
		run(t, tr, clk, rec, []step{{1e9, map[string][]string{"m": {"a"}}, []event{appear("m", "a", 1e9)}}})
		tr.Close()
		if got, want := rec.take(), []event{disappear("m", "a", 1e9, 1e9+1)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("unexpected events at close; got %v; want %v", got, want)
		}
	})
	t.Run("keep open, and carry on", func(t *testing.T) {
		tr, clk, rec := newTracker(t, endpoints.Options{KeepOpenOnClose: true})
		run(t, tr, clk, rec, []step{
			{1e9, map[string][]string{"m": {"a", "b"}}, []event{appear("m", "a", 1e9), appear("m", "b", 1e9)}},
		})
		clk.at(2e9)
		tr.Close()
		if got := rec.take(); got != nil {
			t.Fatalf("unexpected events at close: %v", got)
		}
		tr.Refresh(map[string][]string{})
		if got := rec.take(); got != nil {
			t.Fatalf("unexpected events after close: %v", got)
		}
		saved := tr.Presences()
		if want := []endpoints.Presence{{"m", "a", t0 + 1e9}, {"m", "b", t0 + 1e9}}; !reflect.DeepEqual(saved, want) {
			t.Fatalf("unexpected presences after close; got %v; want %v", saved, want)
		}
		next, clk, rec := newTracker(t, endpoints.Options{Known: saved})
		run(t, next, clk, rec, []step{
			{3e9, map[string][]string{"m": {"a"}}, []event{disappear("m", "b", 1e9, 3e9)}},
		})
		clk.at(4e9)
		next.Close()
		if got, want := rec.take(), []event{disappear("m", "a", 1e9, 4e9)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("unexpected events at close; got %v; want %v", got, want)
		}
	})
	t.Run("without a refresh", func(t *testing.T) {
		tr, _, rec := newTracker(t, endpoints.Options{})
		tr.Close()
		if got := rec.take(); got != nil {
			t.Fatalf("unexpected events at close: %v", got)
		}
	})
}

// TestRefusedEmits: a refused event is counted, not retried, and the
// tracker moves on as if it had been sent.
func TestRefusedEmits(t *testing.T) {
	tr, clk, rec := newTracker(t, endpoints.Options{})
	rec.setRefuse(true)
	run(t, tr, clk, rec, []step{
		{1e9, map[string][]string{"m": {"a", "b"}}, nil}, // refused appearances
	})
	rec.setRefuse(false)
	run(t, tr, clk, rec, []step{
		{2e9, map[string][]string{"m": {"a", "b"}}, nil}, // not re-announced
		// The disappearance is whole by itself.
		{3e9, map[string][]string{"m": {"a"}}, []event{disappear("m", "b", 1e9, 3e9)}},
	})
	rec.setRefuse(true)
	run(t, tr, clk, rec, []step{
		{4e9, map[string][]string{}, nil}, // refused: m/a stays without end
	})
	rec.setRefuse(false)
	run(t, tr, clk, rec, []step{
		{5e9, map[string][]string{}, nil}, // not retried
		{6e9, map[string][]string{"m": {"a"}}, []event{appear("m", "a", 6e9)}},
	})
	want := endpoints.Stats{Present: 1, Refreshes: 6, Appeared: 1, Disappeared: 1, AppearancesDropped: 2, DisappearancesDropped: 1}
	if got := tr.Stats(); got != want {
		t.Fatalf("unexpected stats; got %+v; want %+v", got, want)
	}
}

// TestUnreportable: an endpoint the wire cannot carry is counted once per
// presence and never emitted; the others are unaffected.
func TestUnreportable(t *testing.T) {
	tr, clk, rec := newTracker(t, endpoints.Options{})
	long := strings.Repeat("x", wire.MaxMessageSize)
	run(t, tr, clk, rec, []step{
		{1, map[string][]string{"m": {"a", "bad\xff", long}}, []event{appear("m", "a", 1)}},
		{2, map[string][]string{"m": {"a", "bad\xff", long}}, nil},
		{3, map[string][]string{"m": {"bad\xff"}}, []event{disappear("m", "a", 1, 3)}},
		{4, map[string][]string{}, nil},
		{5, map[string][]string{"m": {"bad\xff"}}, nil},
	})
	if got, want := tr.Stats(), (endpoints.Stats{Refreshes: 5, Appeared: 1, Disappeared: 1, Unreportable: 3}); got != want {
		t.Fatalf("unexpected stats; got %+v; want %+v", got, want)
	}
	if got := tr.Presences(); len(got) != 0 {
		t.Fatalf("unexpected presences %v", got)
	}
	tr.Close()
	if got := rec.take(); got != nil {
		t.Fatalf("unexpected events at close: %v", got)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	rec := &recorder{t: t}
	cases := []struct {
		name string
		opts endpoints.Options
	}{
		{"no sink", endpoints.Options{Hostname: host}},
		{"hostname not UTF-8", endpoints.Options{Sink: rec, Hostname: "h\xfe"}},
		{"hostname too long", endpoints.Options{Sink: rec, Hostname: strings.Repeat("h", wire.MaxMessageSize)}},
		{"known twice", endpoints.Options{Sink: rec, Hostname: host, Known: []endpoints.Presence{{"m", "a", 1}, {"m", "a", 2}}}},
		{"known without a begin", endpoints.Options{Sink: rec, Hostname: host, Known: []endpoints.Presence{{"m", "a", 0}}}},
		{"known not UTF-8", endpoints.Options{Sink: rec, Hostname: host, Known: []endpoints.Presence{{"m\xff", "a", 1}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tr, err := endpoints.New(tc.opts); err == nil {
				t.Fatalf("unexpected tracker %v; want an error", tr)
			}
		})
	}
}

func TestDefaultHostname(t *testing.T) {
	want, err := os.Hostname()
	if err != nil {
		t.Skipf("no hostname: %v", err)
	}
	var got string
	tr, err := endpoints.New(endpoints.Options{Sink: sinkFunc(func(ev *wire.Lifecycle) bool { got = ev.Hostname; return true })})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	tr.Refresh(map[string][]string{"m": {"a"}})
	if got != want {
		t.Fatalf("unexpected hostname; got %q; want %q", got, want)
	}
}

// TestConcurrentUse runs Refresh, Stats, Presences and Close from several
// goroutines (for the race detector) and checks that each endpoint's events
// still alternate, each disappearance closing the latest appearance.
func TestConcurrentUse(t *testing.T) {
	rec := &recorder{t: t}
	tr, err := endpoints.New(endpoints.Options{Sink: rec, Hostname: host})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				m := map[string][]string{}
				for e := range 6 {
					if (i+g+e)%3 != 0 {
						m[fmt.Sprintf("m%d", e%2)] = append(m[fmt.Sprintf("m%d", e%2)], fmt.Sprintf("e%d", e))
					}
				}
				tr.Refresh(m)
				_ = tr.Stats()
				_ = tr.Presences()
			}
		}()
	}
	wg.Wait()
	tr.Close()
	open := map[[2]string]int64{}
	for i, ev := range rec.events {
		k := [2]string{ev.ModelID, ev.Endpoint}
		begin, isOpen := open[k]
		switch {
		case ev.EndTs == 0 && isOpen:
			t.Fatalf("event %d: %v appears again while present since %d", i, k, begin)
		case ev.EndTs == 0:
			open[k] = ev.BeginTs
		case !isOpen || ev.BeginTs != begin:
			t.Fatalf("event %d: %v ends a presence from %d; present: %v (since %d)", i, k, ev.BeginTs, isOpen, begin)
		case ev.EndTs <= ev.BeginTs:
			t.Fatalf("event %d: %v ends at %d, not after its begin %d", i, k, ev.EndTs, ev.BeginTs)
		default:
			delete(open, k)
		}
	}
	if len(open) != 0 {
		t.Fatalf("presences left open after close: %v", open)
	}
}

type sinkFunc func(*wire.Lifecycle) bool

func (f sinkFunc) EmitLifecycle(ev *wire.Lifecycle) bool { return f(ev) }
