package collector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// TestWindowCap: one batch whose events each open a window of their own
// (the review's 836 KB batch opened 3,439) cannot hold more than
// --max-windows windows open. Past the cap events take their arrival time,
// counted, and the totals stay exact.
func TestWindowCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxWindows = 10
	arrival := testBase.Add(3 * time.Hour)
	cfg.Now = newClock(arrival).now
	h := start(t, cfg)
	r := testRand()
	var evs []wire.Event
	for i := range 50 {
		evs = append(evs, genEvent(r, [16]byte{3}, uint64(i+1), 0, testBase.Add(time.Duration(i)*time.Minute)))
	}
	h.send(t, [16]byte{1}, 1, evs)
	// The cap stops events from opening windows of their own; the window
	// of their arrival, which a live collector always needs, is the one
	// above it.
	if got := h.c.agg.Windows(); got != cfg.MaxWindows+1 {
		t.Fatalf("unexpected open windows; got %d; want %d", got, cfg.MaxWindows+1)
	}
	if got := value(t, h.c.m.adjusted.WithLabelValues("window_cap")); got != 40 {
		t.Fatalf("unexpected events past the cap; got %v; want 40", got)
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	var n int64
	atArrival := int64(0)
	for _, row := range rows {
		n += row.Requests
		if row.WindowStart.Equal(arrival.Truncate(time.Minute)) {
			atArrival += row.Requests
		}
	}
	if n != 50 || atArrival != 40 {
		t.Fatalf("got %d requests, %d at the arrival's window; want 50 and 40", n, atArrival)
	}
}

// TestFlushFileBound: late events spread over 200 hours are written over
// several flushes, at most maxFlushPartitions files each, oldest first,
// and every event lands in its own hour.
func TestFlushFileBound(t *testing.T) {
	cfg := testConfig(t)
	arrival := testBase.Add(300 * time.Hour)
	cfg.Now = newClock(arrival).now
	h := start(t, cfg)
	r := testRand()
	var evs []wire.Event
	for i := range 200 {
		evs = append(evs, genEvent(r, [16]byte{3}, uint64(i+1), 0, testBase.Add(time.Duration(i)*time.Hour)))
	}
	h.send(t, [16]byte{1}, 1, evs)
	files := func() int {
		got, _ := filepath.Glob(filepath.Join(cfg.OutDir, table.InferenceDir, "*", "*", "*.parquet"))
		return len(got)
	}
	for i, want := range []int{64, 128, 192, 200} {
		if err := h.c.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := files(); got != want {
			t.Fatalf("after flush %d: %d files; want %d", i+1, got, want)
		}
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	if len(rows) != 200 {
		t.Fatalf("got %d rows; want 200", len(rows))
	}
	for _, row := range rows {
		if row.Requests != 1 {
			t.Fatalf("row %v: %d requests; want 1", row.WindowStart, row.Requests)
		}
	}
}

// TestTotalGroupCap: groups across windows are capped as a whole; past
// the cap new keys fold into their model's overflow key, totals exact.
func TestTotalGroupCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxGroups = 20
	cfg.MaxTotalGroups = 30
	arrival := testBase.Add(time.Hour)
	cfg.Now = newClock(arrival).now
	h := start(t, cfg)
	r := testRand()
	var evs []wire.Event
	for i := range 100 {
		ev := genEvent(r, [16]byte{3}, uint64(i+1), 0, testBase.Add(time.Duration(i%5)*time.Minute))
		ev.Inference.AccountID = uint64(i) // a key of its own
		evs = append(evs, ev)
	}
	h.send(t, [16]byte{1}, 1, evs)
	// At most 30 real keys, plus one overflow key per model and window.
	if got := h.c.agg.Groups(); got > 30+5*len(testModels) {
		t.Fatalf("unexpected groups; got %d", got)
	}
	if got := value(t, h.c.m.overflowed); got < 70 {
		t.Fatalf("unexpected overflowed events; got %v; want at least 70", got)
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != 100 {
		t.Fatalf("got %d requests; want 100", n)
	}
}

// TestWindowCapLateEventForHeldWindow: at the cap, a late event for a
// window that a failed flush holds (so not open in the aggregator) still
// belongs to that window: it opens no new one, and keeps its time.
func TestWindowCapLateEventForHeldWindow(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxWindows = 2
	cfg.Now = newClock(testBase.Add(4 * time.Hour)).now
	h := start(t, cfg)
	r := testRand()
	held := table.PartitionDir(cfg.OutDir, testBase.Add(2*time.Hour))
	failing := failDirSync(t, held)
	send := func(seq uint64, ts time.Time) {
		t.Helper()
		ev := genEvent(r, [16]byte{6}, seq, 0, ts)
		h.send(t, [16]byte{1}, seq, []wire.Event{ev})
	}
	send(1, testBase.Add(2*time.Hour))
	if err := h.c.Flush(); err == nil {
		t.Fatal("the flush with a failed directory fsync reported no error")
	}
	send(2, testBase.Add(3*time.Hour))                // a second window: the cap is reached
	send(3, testBase.Add(2*time.Hour+10*time.Second)) // late, for the held window
	if got := value(t, h.c.m.adjusted.WithLabelValues("window_cap")); got != 0 {
		t.Fatalf("the late event for the held window was moved; %v events past the cap; want 0", got)
	}
	failing.Store(false)
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	var inHeld int64 // partial rows of one window add up
	for _, row := range rows {
		if row.WindowStart.Equal(testBase.Add(2 * time.Hour)) {
			inHeld += row.Requests
		}
	}
	if inHeld != 2 {
		t.Fatalf("held window: %d requests; want 2", inHeld)
	}
	if requests(rows) != 3 {
		t.Fatalf("got %d requests; want 3", requests(rows))
	}
}
