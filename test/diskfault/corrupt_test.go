package diskfault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/readout-dev/readout/collector/wal"
	"github.com/readout-dev/readout/internal/pipeline"
)

// damage is one way to hurt a segment file while its daemon is down.
type damage struct {
	name       string
	metric     string  // the counter that must read want after the restart
	want       float64 // 1 for damage that is read, 0 for damage that must not be
	quarantine bool    // a copy must land in the quarantine folder
	lossless   bool    // the damage must lose nothing: every emitter closed and explained
	logSubs    []string
	bug        string // a known bug in the "logged once" check, if any
}

// TestSpoolCorruption writes events into a spool with the collector down,
// kills the forwarder with SIGKILL, damages a segment and restarts. The
// damage must be detected, counted and (if not a torn tail) quarantined;
// the forwarder must start, ship what is intact, and carry new traffic with
// every gap of the new emitters explained.
func TestSpoolCorruption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		damage
		hurt func(t *testing.T, segs []string)
	}{
		{damage{name: "torn last record", metric: spoolTorn, want: 1, logSubs: []string{"torn"}},
			func(t *testing.T, segs []string) { chopTail(t, segs[len(segs)-1], 7) }},
		{damage{name: "flipped byte mid-segment", metric: spoolCorrupt, want: 1, quarantine: true, logSubs: []string{"corrupt segment"}},
			func(t *testing.T, segs []string) {
				fi, err := os.Stat(segs[0])
				if err != nil {
					t.Fatal(err)
				}
				flipByte(t, segs[0], fi.Size()/2)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p := newPipeline(t)
			p.ForwarderFlags = []string{"--spool-segment-bytes", "65536", "--retry-min", "50ms", "--retry-max", forwarderRetry}
			if err := p.StartForwarder(ctx); err != nil {
				t.Fatal(err)
			}
			truth1 := filepath.Join(p.Dir, "truth1.json")
			if err := p.Loadgen(ctx, nil, "--events", "20000", "--seed", "31", "--truth", truth1); err != nil {
				t.Fatal(err)
			}
			p.Forwarder.Kill()
			segs := newestWithRecords(t, p.Spool)
			if len(segs) < 3 {
				t.Fatalf("want several spool segments to damage; got %v", segs)
			}
			tc.hurt(t, segs)

			afterRestart(t, ctx, p, tc.damage, p.ForwarderMetrics, func() *pipeline.Process { return p.Forwarder },
				filepath.Join(p.Spool, "quarantine"), truth1)
		})
	}
}

// newestWithRecords lists the spool's segments, oldest first, after
// deleting a newest segment that holds only its header (the one a rotation
// had just started), so the last one listed is the one a crash would tear.
func newestWithRecords(t *testing.T, dir string) []string {
	t.Helper()
	all := segmentFiles(t, dir, ".seg", -1)
	if n := len(all); n > 0 {
		if fi, err := os.Stat(all[n-1]); err == nil && fi.Size() <= 8 {
			if err := os.Remove(all[n-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return segmentFiles(t, dir, ".seg", 8)
}

// TestWALCorruption ships events into the collector's write-ahead log in
// three rounds with two state checkpoints between them, has the collector
// kill itself with SIGKILL as it is about to commit the third, damages the
// log and restarts. The WAL then holds a segment behind the newest
// checkpoint (kept only for a fall-back to the older one) and one after it.
// Damage after the checkpoint must be detected, counted and (mid-file)
// copied to quarantine, and the events it took must be missing from the
// audit as well as from the data; damage behind the checkpoint is never
// read and loses nothing. Either way the collector must start and carry new
// traffic with every gap of the new emitters explained.
func TestWALCorruption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		damage
		behind bool // damage the segment behind the newest checkpoint
		hurt   func(t *testing.T, seg string)
	}{
		{damage: damage{name: "torn last record", metric: walTorn, want: 1, logSubs: []string{"torn"}},
			hurt: func(t *testing.T, seg string) { chopTail(t, seg, 5) }},
		{damage: damage{name: "flipped byte mid-segment", metric: walQuarantined, want: 1, quarantine: true, logSubs: []string{"quarantined"}},
			hurt: func(t *testing.T, seg string) { flipByte(t, seg, midRecordByte(t, seg)) }},
		{damage: damage{name: "flipped byte behind the checkpoint", metric: walQuarantined, want: 0, lossless: true},
			behind: true, hurt: func(t *testing.T, seg string) { flipByte(t, seg, midRecordByte(t, seg)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // most of the time goes in waiting for checkpoints
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			p := newPipeline(t)
			p.Window = "1h" // nothing is flushed: only checkpoints hold the state
			p.ForwarderFlags = []string{"--retry-min", "50ms", "--retry-max", forwarderRetry}
			p.Bin = crashingCollector(t, "before-checkpoint", 3)
			err := p.StartCollector(ctx)
			p.Bin = binDir
			if err != nil {
				t.Fatal(err)
			}
			if err := p.StartForwarder(ctx); err != nil {
				t.Fatal(err)
			}
			// Checkpoints come every 10 s while anything changed: one
			// round before each, the third round to be damaged.
			var truths []string
			for round, events := range []string{"8000", "8000", "4000"} {
				truth := filepath.Join(p.Dir, fmt.Sprintf("truth1-%d.json", round))
				truths = append(truths, truth)
				if err := p.Loadgen(ctx, nil, "--events", events, "--seed", strconv.Itoa(41+10*round), "--truth", truth); err != nil {
					t.Fatal(err)
				}
				waitMetric(t, p.ForwarderMetrics, "readout_forwarder_spool_pending_batches", 30*time.Second,
					func(v float64) bool { return v == 0 })
				if round < 2 && p.Collector.Alive() {
					waitMetric(t, p.CollectorMetrics, "readout_collector_checkpoints_total", 30*time.Second,
						func(v float64) bool { return v > float64(round) })
				}
			}
			waitDead(t, p.Collector, 30*time.Second)
			segs := walSegments(t, p.Data)
			if len(segs) < 2 {
				t.Fatalf("want a WAL segment behind the newest checkpoint and one after it; got %v", segs)
			}
			if tc.behind {
				tc.hurt(t, segs[0])
			} else {
				tc.hurt(t, segs[len(segs)-1])
			}

			afterRestart(t, ctx, p, tc.damage, p.CollectorMetrics, func() *pipeline.Process { return p.Collector },
				filepath.Join(p.Data, "quarantine"), truths...)
		})
	}
}

// crashingCollector returns a folder of the test binaries whose collector
// runs with a fault-injection point set, so that parallel tests need not
// share the environment.
func crashingCollector(t *testing.T, point string, after int) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf("#!/bin/sh\nREADOUT_COLLECTOR_CRASH_POINT=%s READOUT_COLLECTOR_CRASH_AFTER=%d exec %s \"$@\"\n",
		point, after, filepath.Join(binDir, "collector"))
	path := filepath.Join(dir, "collector")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func waitDead(t *testing.T, proc *pipeline.Process, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for proc.Alive() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach its crash point in %v", proc.Name, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walSegments lists the collector's WAL segments that hold records, oldest
// first, after deleting an empty newest one (the checkpoint that crashed
// had just started it), so the last one listed is the one a crash would
// tear.
func walSegments(t *testing.T, data string) []string {
	t.Helper()
	dir := filepath.Join(data, "wal")
	all := segmentFiles(t, dir, ".wal", -1)
	if n := len(all); n > 0 {
		if fi, err := os.Stat(all[n-1]); err == nil && fi.Size() == 0 {
			if err := os.Remove(all[n-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return segmentFiles(t, dir, ".wal", 0)
}

// midRecordByte returns the offset of the last payload byte of the middle
// record of a WAL segment: flipping it breaks that record's checksum and
// nothing else, so the damage is mid-file, not a torn tail.
func midRecordByte(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for off := 0; off < len(b); {
		_, _, size, err := wal.ParseRecord(b[off:])
		if err != nil {
			t.Fatalf("%s at offset %d before any damage: %v", path, off, err)
		}
		off += size
		ends = append(ends, int64(off))
	}
	if len(ends) < 3 {
		t.Fatalf("want at least 3 WAL records to damage the middle one; got %d", len(ends))
	}
	return ends[len(ends)/2] - 1
}

// afterRestart restarts whichever daemon is down, then checks that the
// damage was detected, counted, quarantined and logged, and that new
// traffic flows: every new emitter closed with no unexplained gap, and the
// query totals are the new truth plus what the old emitters got through.
func afterRestart(t *testing.T, ctx context.Context, p *pipeline.Pipeline, d damage, metricsAddr string,
	proc func() *pipeline.Process, qdir string, truths1 ...string) {
	t.Helper()
	if p.Collector == nil || !p.Collector.Alive() {
		if err := p.StartCollector(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !p.Forwarder.Alive() {
		if err := p.StartForwarder(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := metric(t, metricsAddr, d.metric); got != d.want {
		t.Errorf("%s = %v after the restart; want %v", d.metric, got, d.want)
	}
	if q := dirFiles(qdir); d.quarantine && len(q) == 0 {
		t.Errorf("nothing in %s after a mid-segment damage", qdir)
	}
	truth2 := filepath.Join(p.Dir, "truth2.json")
	if err := p.Loadgen(ctx, nil, "--events", "20000", "--seed", "42", "--truth", truth2); err != nil {
		t.Fatal(err)
	}
	alive(t, proc())
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	t2 := readTruth(t, truth2)
	rows := audit(t, ctx, p)
	checkClean(t, rows, t2)
	var got1, unexplained1, sent1 int64
	open1, emitters1 := 0, 0
	for _, path := range truths1 {
		t1 := readTruth(t, path)
		if d.lossless {
			checkClean(t, rows, t1)
		}
		sent1 += int64(t1.Total.Requests)
		emitters1 += len(t1.Emitters)
		for _, id := range t1.Emitters {
			got1 += rows[id].received
			unexplained1 += rows[id].unexplained
			if !rows[id].closed {
				open1++
			}
		}
	}
	t.Logf("phase 1: %d sent, %d arrived, %d unexplained, %d of %d emitters without their close (lost to the damage)",
		sent1, got1, unexplained1, open1, emitters1)
	if got1 > sent1 || got1 == 0 || (d.lossless && got1 != sent1) {
		t.Errorf("phase 1: %d events arrived of %d sent", got1, sent1)
	}
	// A loss must show in the audit: as a gap, or (when the damage took an
	// emitter's tail, its close included) as an emitter left open.
	if got1 < sent1 && unexplained1 == 0 && open1 == 0 {
		t.Errorf("phase 1 lost %d events but the audit shows every emitter closed with nothing unexplained",
			sent1-got1)
	}
	t.Run("data matches audit", func(t *testing.T) {
		var total int64
		for _, v := range queryTotals(t, ctx, p) {
			total += int64(v.Requests)
		}
		if want := int64(t2.Total.Requests) + got1; total != want {
			t.Errorf("query counts %d requests; want %d (phase 2's %d plus the %d of phase 1 the audit says arrived)",
				total, want, t2.Total.Requests, got1)
		}
	})
	t.Run("logged once", func(t *testing.T) {
		if d.bug != "" {
			knownBug(t, d.bug)
		}
		if len(d.logSubs) == 0 {
			for _, sub := range []string{"torn", "quarantined", "corrupt"} {
				if lines := faultLines(t, proc().Log, sub); len(lines) != 0 {
					t.Errorf("damage that must never be read was logged: %s", lines[0].raw)
				}
			}
			return
		}
		checkLoggedOnce(t, proc().Log, true, d.logSubs...)
	})
}
