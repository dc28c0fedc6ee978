package collector

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/readout-dev/readout/wire"
)

// TestIngestDuringFlush holds the flusher at each step of a flush while
// batches (late events for the windows being written, re-sent duplicates)
// keep arriving, and checks that they are acknowledged without waiting for
// the flush. It then takes a copy of the data and output folders at that
// moment, which is what a kill -9 there would leave, and checks that a
// collector started on the copy writes every acknowledged event exactly
// once; and that the original, let go, does too.
func TestIngestDuringFlush(t *testing.T) {
	for _, point := range []string{pointFlushStart, CrashAfterFile, CrashBeforeCheckpoint, CrashAfterCheckpoint} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.FlushInterval = 10 * time.Millisecond
			clock := newClock(testBase.Add(5 * time.Minute))
			cfg.Now = clock.now
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			reg := newRegistry()
			c, err := Open(cfg, zaptest.NewLogger(t), reg)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			c.faults.hook = func(p string) {
				if p == point {
					once.Do(func() {
						close(entered)
						<-release
					})
				}
			}
			c.Start()
			h := &harness{c: c, srv: newServer(c), reg: reg}
			released := false
			t.Cleanup(func() {
				if !released {
					close(release)
				}
				h.stop(t)
			})

			s := makeScenario(3, 2, 200, testBase, 20)
			tr := newTruth()
			fwd := [16]byte{0xf2}
			var bseq uint64
			send := func(batches [][]wire.Event) {
				for _, b := range batches {
					bseq++
					if code := post(t, h.srv.URL, "", encodeBatch(t, fwd, bseq, b), false); code != http.StatusOK {
						t.Fatalf("batch %d: status %d", bseq, code)
					}
					for j := range b {
						tr.deliver(&b[j])
					}
				}
			}
			send(s.phase1)
			clock.set(testBase.Add(5*time.Minute + DefaultAllowedLateness))
			select {
			case <-entered:
			case <-time.After(20 * time.Second):
				t.Fatalf("the flusher never reached %s", point)
			}
			// The flusher is stuck: ingest must go on regardless.
			send(s.phase2)

			// What a kill -9 now leaves on disk (the WAL is fsynced, the
			// flusher is held, nothing else writes).
			data2, out2 := copyTree(t, cfg.DataDir), copyTree(t, cfg.OutDir)

			close(release)
			released = true
			h.stop(t)
			rows, _ := readRows(t, cfg.OutDir)
			checkTotals(t, rows, tr)
			checkQuantiles(t, rows, tr)
			checkAudit(t, cfg.OutDir, tr, true)

			cfg2 := cfg
			cfg2.DataDir, cfg2.OutDir = data2, out2
			c2, err := Open(cfg2, zaptest.NewLogger(t), newRegistry())
			if err != nil {
				t.Fatalf("reopen the copy: %v", err)
			}
			c2.Start()
			if err := c2.Shutdown(context.Background()); err != nil {
				t.Fatalf("shutdown of the copy: %v", err)
			}
			rows, _ = readRows(t, out2)
			checkTotals(t, rows, tr)
			checkQuantiles(t, rows, tr)
			checkAudit(t, out2, tr, true)
		})
	}
}

// copyTree copies the regular files under src to a new folder.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}
