package setuprun

import (
	"errors"
	"fmt"
	"math/rand/v2"
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

// t0 is when the tests' setups start, in Unix ns.
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

// recorder is a Sink that hands each report to the test.
type recorder chan wire.SetupRun

func (r recorder) EmitSetupRun(ev *wire.SetupRun) bool {
	r <- *ev
	return true
}

// only returns the one report sent, failing if there is none or more.
func (r recorder) only(t *testing.T) wire.SetupRun {
	t.Helper()
	var ev wire.SetupRun
	select {
	case ev = <-r:
	case <-time.After(10 * time.Second):
		t.Fatalf("no report")
	}
	select {
	case ev2 := <-r:
		t.Fatalf("a second report %+v", ev2)
	default:
	}
	return ev
}

func TestReady(t *testing.T) {
	clk := &fakeClock{ns: t0}
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec, Clock: clk.now, ScheduledAt: time.Unix(0, t0-int64(7*time.Second)),
		DeploymentKey: "acme/llama", InstanceID: "i-1",
		InstanceMetadata: []wire.Label{{Key: "pod", Value: "llama-7f9c"}},
		RuntimeMetadata:  []wire.Label{{Key: "cog_version", Value: "0.9.4"}}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	fmt.Fprintln(r, "loading weights")
	fmt.Fprintln(r, "ready ✓")
	clk.set(42 * time.Second)
	if _, ok := r.Report(); ok {
		t.Fatalf("Report before Ready says reported")
	}
	if err := r.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	ev := rec.only(t)
	want := wire.SetupRun{Status: wire.SetupReady, ScheduledAtNs: t0 - int64(7*time.Second), StartedAtNs: t0,
		CompletedAtNs: t0 + int64(42*time.Second), Logs: "loading weights\nready ✓\n",
		DeploymentKey: "acme/llama", InstanceID: "i-1",
		InstanceMetadata: []wire.Label{{Key: "pod", Value: "llama-7f9c"}},
		RuntimeMetadata:  []wire.Label{{Key: "cog_version", Value: "0.9.4"}}}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("got %+v; want %+v", ev, want)
	}
	if got, ok := r.Report(); !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("unexpected Report %+v, %v", got, ok)
	}

	// Exactly one report: later calls are refused, later output ignored.
	fmt.Fprintln(r, "late")
	for _, done := range []func() error{r.Ready, r.Failed, func() error { return r.Done(wire.SetupTimeout) }} {
		if err := done(); !errors.Is(err, ErrReported) || !strings.Contains(err.Error(), "ready") {
			t.Fatalf("unexpected error %v; want ErrReported naming ready", err)
		}
	}
	if len(rec) != 0 {
		t.Fatalf("a second report")
	}
}

func TestFailedWithoutScheduledAt(t *testing.T) {
	clk := &fakeClock{ns: t0}
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec, Clock: clk.now, StartedAt: time.Unix(0, t0-int64(time.Second))})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	clk.set(2 * time.Second)
	if err := r.Failed(); err != nil {
		t.Fatalf("failed: %v", err)
	}
	ev := rec.only(t)
	if ev.Status != wire.SetupFailed || ev.ScheduledAtNs != 0 || ev.StartedAtNs != t0-int64(time.Second) ||
		ev.CompletedAtNs != t0+int64(2*time.Second) || ev.Logs != "" || ev.LogsDroppedBytes != 0 {
		t.Fatalf("unexpected report %+v", ev)
	}
}

func TestInvalidStatusIsRefused(t *testing.T) {
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if err := r.Done(wire.SetupStatus(99)); err == nil || errors.Is(err, ErrReported) {
		t.Fatalf("unexpected error %v; want invalid status", err)
	}
	if err := r.Ready(); err != nil {
		t.Fatalf("ready after a refused Done: %v", err)
	}
	rec.only(t)
}

func TestTimeout(t *testing.T) {
	clk := &fakeClock{ns: t0}
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec, Clock: clk.now, Timeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	fmt.Fprint(r, "still loading")
	clk.set(10 * time.Minute) // what the report says, whatever the real timer
	ev := rec.only(t)
	if ev.Status != wire.SetupTimeout || ev.CompletedAtNs != t0+int64(10*time.Minute) || ev.Logs != "still loading" {
		t.Fatalf("unexpected report %+v", ev)
	}
	if err := r.Ready(); !errors.Is(err, ErrReported) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("unexpected error %v; want ErrReported naming timeout", err)
	}
	if len(rec) != 0 {
		t.Fatalf("a second report")
	}
}

// TestTimeoutCountsFromStartedAt: a setup that started long enough ago
// times out at once.
func TestTimeoutCountsFromStartedAt(t *testing.T) {
	rec := make(recorder, 4)
	_, err := New(Options{Sink: rec, StartedAt: time.Now().Add(-time.Hour), Timeout: time.Minute})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if ev := rec.only(t); ev.Status != wire.SetupTimeout {
		t.Fatalf("unexpected report %+v", ev)
	}
}

func TestDoneStopsTheTimeout(t *testing.T) {
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if err := r.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	time.Sleep(60 * time.Millisecond) // well past the timeout
	if ev := rec.only(t); ev.Status != wire.SetupReady {
		t.Fatalf("unexpected report %+v", ev)
	}
}

// TestDoneRacesTimeout calls Ready about when the timeout fires: either
// way, exactly one report, and Ready's error says which won.
func TestDoneRacesTimeout(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		rec := make(recorder, 4)
		r, err := New(Options{Sink: rec, Timeout: time.Duration(rng.IntN(200)) * time.Microsecond})
		if err != nil {
			t.Fatalf("new: %v", err)
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
		err = r.Ready()
		ev := rec.only(t)
		if (err == nil) != (ev.Status == wire.SetupReady) || (err != nil && ev.Status != wire.SetupTimeout) {
			t.Fatalf("Ready returned %v and the report says %v", err, ev.Status)
		}
	}
}

// TestConcurrentWrites writes whole lines from two goroutines, as two
// pipes would, past the limit.
func TestConcurrentWrites(t *testing.T) {
	rec := make(recorder, 4)
	r, err := New(Options{Sink: rec})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	var wg sync.WaitGroup
	var written int
	var mu sync.Mutex
	for _, name := range []string{"stdout", "stderr"} {
		wg.Go(func() {
			for i := range 2000 {
				n, _ := fmt.Fprintf(r, "%s line %d: é€𝄞\n", name, i)
				mu.Lock()
				written += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := r.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	ev := rec.only(t)
	if len(ev.Logs) > MaxLogBytes || uint64(len(ev.Logs))+ev.LogsDroppedBytes != uint64(written) {
		t.Fatalf("logs of %d bytes and %d dropped; want at most %d, adding up to %d", len(ev.Logs), ev.LogsDroppedBytes, MaxLogBytes, written)
	}
	lines := strings.Split(ev.Logs, "\n")
	for _, l := range lines[1 : len(lines)-1] { // the first may be cut
		if !strings.HasSuffix(l, ": é€𝄞") || !strings.HasPrefix(l, "std") {
			t.Fatalf("a line was torn: %q", l)
		}
	}
	if last := lines[len(lines)-2]; !strings.Contains(last, " line 1999: ") {
		t.Fatalf("unexpected last line %q; want a writer's last", last)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	rec := make(recorder, 1)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no sink", Options{}, "Sink is required"},
		{"negative timeout", Options{Sink: rec, Timeout: -time.Second}, "negative timeout"},
		{"invalid UTF-8", Options{Sink: rec, DeploymentKey: "\xff"}, "cannot be reported"},
		{"too many labels", Options{Sink: rec, RuntimeMetadata: make([]wire.Label, wire.MaxLabels+1)}, "cannot be reported"},
		// Room for the metadata, but not beside 20 KiB of logs.
		{"too large", Options{Sink: rec, InstanceMetadata: []wire.Label{{Key: "k", Value: strings.Repeat("v", 50<<10)}}}, "cannot be reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error %v; want one containing %q", err, tc.want)
			}
		})
	}
}
