package collector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// TestFailedDirSyncNotCountedTwice: a flush whose file is renamed into
// place but whose directory fsync fails must not leave that file behind
// for the retry. The retry here also writes an earlier hour (a late event
// came meanwhile), which re-numbers the partitions: an orphan under the
// old number would be committed beside the new file, its window counted
// twice.
func TestFailedDirSyncNotCountedTwice(t *testing.T) {
	cfg := testConfig(t)
	clock := newClock(testBase.Add(4 * time.Hour))
	cfg.Now = clock.now
	h := start(t, cfg)
	r := testRand()
	emitter := [16]byte{4}
	late := table.PartitionDir(cfg.OutDir, testBase.Add(2*time.Hour))
	failing := failDirSync(t, late)

	send := func(seq uint64, ts time.Time) {
		t.Helper()
		ev := genEvent(r, emitter, seq, 0, ts)
		h.send(t, [16]byte{1}, seq, []wire.Event{ev})
	}
	send(1, testBase.Add(2*time.Hour))
	if err := h.c.Flush(); err == nil {
		t.Fatal("the flush with a failed directory fsync reported no error")
	}
	failing.Store(false)
	send(2, testBase.Add(1*time.Hour))
	if err := h.c.Flush(); err != nil {
		t.Fatal(err)
	}
	h.stop(t)
	rows, files := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != 2 {
		t.Fatalf("unexpected requests; got %d; want 2 (files %v)", n, files)
	}
	if got, _ := filepath.Glob(filepath.Join(late, "*.parquet")); len(got) != 1 {
		t.Fatalf("unexpected files in %s: %v; want one", late, got)
	}
}
