package diskfault

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/collector/wal"
	"github.com/readout-dev/readout/internal/pipeline"
)

// damage is one way to hurt a segment file while its daemon is down.
type damage struct {
	name       string
	metric     string // the counter that must read 1 after the restart
	quarantine bool   // a copy must land in the quarantine folder
	logSubs    []string
	bug        string // a known bug in the "logged once" check, if any
	auditBug   string // a known bug in the "data matches audit" check, if any
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
		{damage{name: "torn last record", metric: spoolTorn, logSubs: []string{"torn"}},
			func(t *testing.T, segs []string) { chopTail(t, segs[len(segs)-1], 7) }},
		{damage{name: "flipped byte mid-segment", metric: spoolCorrupt, quarantine: true, logSubs: []string{"corrupt segment"}},
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

// walLedgerBug: the state checkpoint holds the dedupe ledger (what the
// audit calls received) but not the open windows, which live only in the
// WAL; when damage cuts WAL records that a checkpoint already covers, their
// events vanish from the output while the audit still counts them received,
// every emitter closed, nothing unexplained. Re-sent copies would even be
// dropped as duplicates.
const walLedgerBug = "after WAL damage behind a checkpoint, the audit counts as received events the output lost " +
	"(the checkpointed ledger is ahead of the cut WAL), so the loss is silent: 0 unexplained, all emitters closed"

// TestWALCorruption ships events into the collector's write-ahead log,
// kills the collector with SIGKILL before it flushes, damages the log and
// restarts. The damage must be detected, counted and (mid-file) copied to
// quarantine; the collector must start and carry new traffic with every gap
// of the new emitters explained.
func TestWALCorruption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		damage
		hurt func(t *testing.T, seg string)
	}{
		{damage{name: "torn last record", metric: walTorn, logSubs: []string{"torn"},
			auditBug: walLedgerBug},
			func(t *testing.T, seg string) { chopTail(t, seg, 5) }},
		{damage{name: "flipped byte mid-segment", metric: walQuarantined, quarantine: true, logSubs: []string{"quarantined"},
			auditBug: walLedgerBug},
			func(t *testing.T, seg string) { flipByte(t, seg, midRecordByte(t, seg)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p := newPipeline(t)
			p.Window = "1h" // nothing is flushed (and cut from the WAL) before the damage
			p.ForwarderFlags = []string{"--retry-min", "50ms", "--retry-max", forwarderRetry}
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			truth1 := filepath.Join(p.Dir, "truth1.json")
			if err := p.Loadgen(ctx, nil, "--events", "20000", "--seed", "41", "--truth", truth1); err != nil {
				t.Fatal(err)
			}
			waitMetric(t, p.ForwarderMetrics, "readout_forwarder_spool_pending_batches", 30*time.Second,
				func(v float64) bool { return v == 0 })
			// Let a state checkpoint cover every record, as it would in a
			// long run, before the crash.
			c0 := metric(t, p.CollectorMetrics, "readout_collector_checkpoints_total")
			waitMetric(t, p.CollectorMetrics, "readout_collector_checkpoints_total", 30*time.Second,
				func(v float64) bool { return v > c0 })
			p.Collector.Kill()
			segs := segmentFiles(t, filepath.Join(p.Data, "wal"), ".wal", 0)
			if len(segs) == 0 {
				t.Fatal("the collector's WAL is empty after it acknowledged every batch")
			}
			tc.hurt(t, segs[len(segs)-1])

			afterRestart(t, ctx, p, tc.damage, p.CollectorMetrics, func() *pipeline.Process { return p.Collector },
				filepath.Join(p.Data, "quarantine"), truth1)
		})
	}
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
	proc func() *pipeline.Process, qdir, truth1 string) {
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
	if got := metric(t, metricsAddr, d.metric); got != 1 {
		t.Errorf("%s = %v after the restart; want 1", d.metric, got)
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

	t1, t2 := readTruth(t, truth1), readTruth(t, truth2)
	rows := audit(t, ctx, p)
	checkClean(t, rows, t2)
	var got1, unexplained1 int64
	open1 := 0
	for _, id := range t1.Emitters {
		got1 += rows[id].received
		unexplained1 += rows[id].unexplained
		if !rows[id].closed {
			open1++
		}
	}
	t.Logf("phase 1: %d sent, %d arrived, %d unexplained, %d of %d emitters without their close (lost to the damage)",
		t1.Total.Requests, got1, unexplained1, open1, len(t1.Emitters))
	if got1 > t1.Total.Requests || got1 == 0 {
		t.Errorf("phase 1: %d events arrived of %d sent", got1, t1.Total.Requests)
	}
	// A loss must show in the audit: as a gap, or (when the damage took an
	// emitter's tail, its close included) as an emitter left open.
	if got1 < t1.Total.Requests && unexplained1 == 0 && open1 == 0 {
		t.Errorf("phase 1 lost %d events but the audit shows every emitter closed with nothing unexplained",
			t1.Total.Requests-got1)
	}
	t.Run("data matches audit", func(t *testing.T) {
		if d.auditBug != "" {
			knownBug(t, d.auditBug)
		}
		var total int64
		for _, v := range queryTotals(t, ctx, p) {
			total += v.Requests
		}
		if want := t2.Total.Requests + got1; total != want {
			t.Errorf("query counts %d requests; want %d (phase 2's %d plus the %d of phase 1 the audit says arrived)",
				total, want, t2.Total.Requests, got1)
		}
	})
	t.Run("logged once", func(t *testing.T) {
		if d.bug != "" {
			knownBug(t, d.bug)
		}
		checkLoggedOnce(t, proc().Log, true, d.logSubs...)
	})
}
