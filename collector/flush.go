package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/table"
)

// auditEvery is how often the audit snapshot and checkpoint are refreshed
// when the ledger changed but no window closed.
const auditEvery = 10 * time.Second

// flush commits closable windows (every window when all is set) and the
// ledger. The order makes a crash anywhere harmless:
//  1. write the windows' rows as new files named with flush seq N+1;
//  2. write the audit snapshot;
//  3. commit the checkpoint (flush seq N+1, applied LSN, ledger, and for each
//     flushed window the LSN it was flushed at) atomically;
//  4. drop the flushed windows from memory and delete WAL segments whose
//     records are all committed.
//
// A crash before 3 leaves files with seq N+1 that the next start deletes
// before replaying the WAL into the same windows; a crash after 3 leaves WAL
// records that replay skips for the flushed windows.
func (c *Collector) flush(all bool) error {
	now := c.cfg.Now()
	ws := c.agg.Closable(now.UnixNano(), c.cfg.AllowedLateness, all)
	// Forgetting silent emitters changes the ledger with no WAL record, so
	// it forces a checkpoint.
	expired := c.ledger.Expire(now.Add(-c.cfg.DedupeTTL).UnixNano())
	if expired > 0 {
		c.m.emittersExpired.Add(float64(expired))
		c.log.Info("forgot silent emitters", zap.Int("emitters", expired), zap.Duration("dedupe_ttl", c.cfg.DedupeTTL))
		c.ledgerExpired = true
	}
	ledgerChanged := c.applied > c.ckptLSN || c.ledgerExpired
	if len(ws) == 0 && !(ledgerChanged && (all || c.ledgerExpired || now.Sub(c.lastCkpt) >= auditEvery)) {
		return nil
	}
	if err := c.commit(ws, now); err != nil {
		c.m.flushErrors.Inc()
		if c.logLimit.allow("flush", time.Now()) {
			c.log.Error("flush failed; windows stay in memory and are retried", zap.Error(err))
		}
		return err
	}
	c.updateGauges()
	return nil
}

func (c *Collector) commit(ws []*window.Window, now time.Time) error {
	if err := c.removeGarbage(); err != nil {
		return err
	}
	seq := c.flushSeq + 1
	written, err := c.writeWindows(ws, seq)
	c.garbage = append(c.garbage, written...)
	if err != nil {
		return err
	}
	if err := table.WriteAudit(auditPath(c.cfg.OutDir, c.id8), c.ledger.AuditRows()); err != nil {
		return fmt.Errorf("write audit: %w", err)
	}
	flushed := make(map[int64]uint64, len(c.flushed)+len(ws))
	first := c.wal.FirstLSN()
	for start, at := range c.flushed {
		// An entry matters only while the WAL still holds records at or
		// below its LSN.
		if first != 0 && at >= first {
			flushed[start] = at
		}
	}
	for _, w := range ws {
		flushed[w.Start] = c.applied
	}
	c.crash(CrashBeforeCheckpoint)
	cp := checkpoint{Version: 1, FlushSeq: seq, AppliedLSN: c.applied, Flushed: flushed, Ledger: c.ledger}
	if err := cp.save(c.cfg.DataDir); err != nil {
		// A failure after the rename (the directory fsync) may have
		// committed it anyway; what is on disk decides, or the next
		// attempt would count these files twice or lose them.
		onDisk, lerr := loadCheckpoint(c.cfg.DataDir)
		if lerr != nil || onDisk.FlushSeq != seq {
			return err
		}
		c.log.Warn("checkpoint reported an error but is on disk; treating it as committed", zap.Error(err))
	}
	c.crash(CrashAfterCheckpoint)
	c.garbage = c.garbage[:0]
	c.flushSeq, c.flushed, c.ckptLSN, c.lastCkpt = seq, flushed, c.applied, now
	c.ledgerExpired = false
	c.m.checkpoints.Inc()
	c.m.filesWritten.Add(float64(len(written)))
	for _, w := range ws {
		c.agg.Remove(w)
	}
	through := c.applied
	if m := c.agg.MinLSN(); m != 0 && m-1 < through {
		through = m - 1
	}
	if _, err := c.wal.RemoveThrough(through); err != nil {
		// Harmless for correctness: the segments replay as already committed.
		c.log.Warn("wal truncation failed", zap.Error(err))
	}
	return nil
}

// writeWindows writes one file per hour partition and returns the paths it
// wrote, even on error, so a failed flush can be cleaned up.
func (c *Collector) writeWindows(ws []*window.Window, seq uint64) ([]string, error) {
	parts := map[string][]table.InferenceRow{}
	for _, w := range ws {
		dir := table.PartitionDir(c.cfg.OutDir, time.Unix(0, w.Start))
		parts[dir] = append(parts[dir], w.Rows(c.cfg.Window)...)
	}
	dirs := make([]string, 0, len(parts))
	for d := range parts {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var written []string
	for n, dir := range dirs {
		path := filepath.Join(dir, partName(c.id8, seq, n))
		if c.cfg.CrashPoint == CrashMidFile {
			c.writeHalfFile(path)
		}
		if err := table.WriteInference(path, parts[dir]); err != nil {
			return written, err
		}
		written = append(written, path)
		c.crash(CrashAfterFile)
	}
	return written, nil
}

// writeHalfFile leaves what a crash in the middle of table.WriteInference
// leaves, a partial temporary file, and crashes (fault injection only).
func (c *Collector) writeHalfFile(path string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		tmp := filepath.Join(filepath.Dir(path), ".tmp-crash")
		_ = os.WriteFile(tmp, []byte("PAR1 half written"), 0o644)
	}
	c.crash(CrashMidFile)
}

// removeGarbage deletes the files of a failed flush: their flush seq will
// be committed by the next flush, so they must be gone first.
func (c *Collector) removeGarbage() error {
	for len(c.garbage) > 0 {
		p := c.garbage[0]
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove file of a failed flush: %w", err)
		}
		c.garbage = c.garbage[1:]
	}
	return nil
}
