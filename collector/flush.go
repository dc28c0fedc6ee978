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
	"github.com/readout-dev/readout/internal/atomicfile"
	"github.com/readout-dev/readout/table"
)

// auditEvery is how often the audit snapshot and checkpoint are refreshed
// when the ledger changed but no window closed.
const auditEvery = 10 * time.Second

// A flush commits closable windows (every window at shutdown) and the
// ledger. The ingest loop prepares it and a flusher goroutine writes it, so
// that writing Parquet files (a second or more for a big window) never
// stalls ingest; at most one flush is in flight. The order makes a crash
// anywhere harmless:
//
//  1. (loop) take the windows out of the aggregator, so events arriving
//     meanwhile for the same windows start new partial rows, and snapshot
//     the applied LSN A, the audit rows and the checkpoint at A;
//  2. (flusher) write the windows' rows as new files named with flush seq
//     N+1, then the audit snapshot;
//  3. (flusher) commit the checkpoint (flush seq N+1, applied LSN A, ledger
//     at A, and flushed[w] = A for each window) atomically;
//  4. (loop) record the commit and delete WAL segments whose records are
//     all committed: LSN <= min(A, lowest LSN still only in memory - 1).
//
// A crash before 3 leaves files with seq N+1 that the next start deletes
// before replaying the WAL into the same windows; a crash after 3 leaves WAL
// records that replay skips for the flushed windows at or below A, and
// aggregates again above A (the events that arrived during the flush, which
// were in memory only).
type flushJob struct {
	seq     uint64
	ws      []*window.Window
	audit   []table.AuditRow
	ckpt    []byte           // the encoded checkpoint
	flushed map[int64]uint64 // its Flushed map
	applied uint64           // its AppliedLSN
	now     time.Time
	garbage []string // files of a failed flush, removed first
	expired bool     // the checkpoint records forgotten emitters
}

// flushResult is the flusher's answer to the loop.
type flushResult struct {
	job     *flushJob
	written []string
	garbage []string // files to remove before the next attempt (on error)
	err     error
}

// startFlush prepares a flush of the windows closable now (all of them when
// all is set) and hands it to a flusher goroutine. It reports false when
// there is nothing to commit, or a flush is already in flight (the next
// tick tries again).
func (c *Collector) startFlush(all bool) (bool, error) {
	if c.flushing != nil {
		return false, nil
	}
	now := c.cfg.Now()
	// Forgetting silent emitters changes the ledger with no WAL record, so
	// it forces a checkpoint.
	expired := c.ledger.Expire(now.Add(-c.cfg.DedupeTTL).UnixNano())
	if expired > 0 {
		c.m.emittersExpired.Add(float64(expired))
		c.log.Info("forgot silent emitters", zap.Int("emitters", expired), zap.Duration("dedupe_ttl", c.cfg.DedupeTTL))
		c.ledgerExpired = true
	}
	ws := c.takeClosable(now.UnixNano(), all)
	ledgerChanged := c.applied > c.ckptLSN || c.ledgerExpired
	if len(ws) == 0 && !(ledgerChanged && (all || c.ledgerExpired || now.Sub(c.lastCkpt) >= auditEvery)) {
		return false, nil
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
	seq := c.flushSeq + 1
	// The ledger belongs to the loop: encode it here, at exactly the
	// applied LSN the checkpoint names.
	cp := checkpoint{Version: 1, FlushSeq: seq, AppliedLSN: c.applied, Flushed: flushed, Ledger: c.ledger}
	b, err := cp.encode()
	if err != nil {
		c.unflushed = append(c.unflushed, ws...)
		return false, err
	}
	job := &flushJob{seq: seq, ws: ws, audit: c.ledger.AuditRows(), ckpt: b, flushed: flushed,
		applied: c.applied, now: now, garbage: c.garbage, expired: c.ledgerExpired}
	c.garbage = nil
	c.flushing = job
	go func() { c.flushDone <- c.writeFlush(job) }()
	return true, nil
}

// takeClosable removes from the aggregator the windows to flush: those
// whose end plus the allowed lateness has passed, every window when all is
// set, and the windows of a failed flush together with any newer partial
// window of the same start (one flushed LSN covers both).
func (c *Collector) takeClosable(now int64, all bool) []*window.Window {
	ws := c.agg.Closable(now, c.cfg.AllowedLateness, all)
	for _, u := range c.unflushed {
		if w := c.agg.Get(u.Start); w != nil && !contains(ws, w) {
			ws = append(ws, w)
		}
	}
	for _, w := range ws {
		c.agg.Remove(w)
	}
	ws = append(c.unflushed, ws...)
	c.unflushed = nil
	return ws
}

func contains(ws []*window.Window, w *window.Window) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// finishFlush takes the flusher's result in the loop: on success it makes
// the commit the collector's state and truncates the WAL; on failure the
// windows stay in memory and are retried by the next flush.
func (c *Collector) finishFlush(res flushResult) error {
	job := res.job
	c.flushing = nil
	if res.err != nil {
		c.garbage = append(c.garbage, res.garbage...)
		c.unflushed = append(c.unflushed, job.ws...)
		c.m.flushErrors.Inc()
		if c.logLimit.allow("flush", time.Now()) {
			c.log.Error("flush failed; windows stay in memory and are retried", zap.Error(res.err))
		}
		c.updateGauges()
		return res.err
	}
	c.flushSeq, c.flushed, c.ckptLSN, c.lastCkpt = job.seq, job.flushed, job.applied, job.now
	if job.expired {
		// Expiry happens only while no flush is in flight, so this
		// checkpoint holds every expiry so far.
		c.ledgerExpired = false
	}
	c.m.checkpoints.Inc()
	c.m.filesWritten.Add(float64(len(res.written)))
	through := job.applied
	if m := c.memMinLSN(); m != 0 && m-1 < through {
		through = m - 1
	}
	if _, err := c.wal.RemoveThrough(through); err != nil {
		// Harmless for correctness: the segments replay as already committed.
		c.log.Warn("wal truncation failed", zap.Error(err))
	}
	c.updateGauges()
	return nil
}

// memMinLSN is the lowest WAL LSN with events held only in memory (open
// windows and windows of a failed flush), 0 if none.
func (c *Collector) memMinLSN() uint64 {
	m := c.agg.MinLSN()
	for _, w := range c.unflushed {
		if m == 0 || w.MinLSN < m {
			m = w.MinLSN
		}
	}
	return m
}

// flushSync runs a flush to its end: it waits for the one in flight, then
// flushes what is closable now (everything when all is set) and waits for
// that too. Used by Flush and at shutdown.
func (c *Collector) flushSync(all bool) error {
	var err error
	if c.flushing != nil {
		err = c.finishFlush(<-c.flushDone)
	}
	started, serr := c.startFlush(all)
	if serr != nil {
		return serr
	}
	if !started {
		return err
	}
	return c.finishFlush(<-c.flushDone)
}

// writeFlush is the flusher: steps 2 and 3 of a flush. It touches nothing
// the loop owns; everything it needs is in the job.
func (c *Collector) writeFlush(job *flushJob) flushResult {
	res := flushResult{job: job}
	c.crash(pointFlushStart)
	garbage, err := removeFiles(job.garbage)
	if err != nil {
		res.garbage, res.err = garbage, err
		return res
	}
	written, err := c.writeWindows(job.ws, job.seq)
	res.written = written
	if err != nil {
		res.garbage, res.err = written, err
		return res
	}
	if err := table.WriteAudit(auditPath(c.cfg.OutDir, c.id8), job.audit); err != nil {
		res.garbage, res.err = written, fmt.Errorf("write audit: %w", err)
		return res
	}
	c.crash(CrashBeforeCheckpoint)
	if err := atomicfile.WriteFile(filepath.Join(c.cfg.DataDir, checkpointFile), job.ckpt); err != nil {
		// A failure after the rename (the directory fsync) may have
		// committed it anyway; what is on disk decides, or the next
		// attempt would count these files twice or lose them.
		onDisk, lerr := loadCheckpoint(c.cfg.DataDir)
		if lerr != nil || onDisk.FlushSeq != job.seq {
			res.garbage, res.err = written, err
			return res
		}
		c.log.Warn("checkpoint reported an error but is on disk; treating it as committed", zap.Error(err))
	}
	c.crash(CrashAfterCheckpoint)
	return res
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

// removeFiles deletes the files of a failed flush: their flush seq will be
// committed by the next flush, so they must be gone first. It returns the
// ones it could not remove.
func removeFiles(paths []string) ([]string, error) {
	for i, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return paths[i:], fmt.Errorf("remove file of a failed flush: %w", err)
		}
	}
	return nil, nil
}
