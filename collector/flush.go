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

// checkpointEvery is how often a checkpoint is committed while anything
// changed, even when no window closes: it bounds the WAL a restart replays
// and lets the WAL behind it be deleted.
const checkpointEvery = 10 * time.Second

// checkpointWALBytes makes a checkpoint due early, at the next flush tick,
// once this much WAL was written since the last one, so a burst cannot grow
// the WAL (and a restart's replay) without bound.
const checkpointWALBytes = 128 << 20

// checkpointCostFactor spaces the flushes the timer starts at least this
// many times the last checkpoint's encoding apart (wall clock), so that
// encoding many open groups on the ingest loop never takes more than about
// 5% of it: 30 ms for 100,000 groups allows one every 0.6 s. Late events
// would otherwise make a window closable, and a checkpoint due, at every
// flush tick. Flush and shutdown are not paced.
const checkpointCostFactor = 20

// A flush commits closable windows (every window at shutdown) together with
// a checkpoint: a snapshot of the ledger and of every window still open.
// The ingest loop prepares it and a flusher goroutine writes it, so that
// writing Parquet files and the checkpoint never stalls ingest for long; at
// most one flush is in flight. The order makes a crash anywhere harmless:
//
//  1. (loop) take the windows to write out of the aggregator, so events
//     arriving meanwhile start new partial rows; encode the checkpoint at
//     the applied LSN A (ledger and remaining open windows); start a new
//     WAL segment, so every record above A lands in segments the
//     checkpoint names as the first to replay;
//  2. (flusher) write the windows' rows as new files named with flush seq
//     N+1, then the audit snapshot;
//  3. (flusher) commit the checkpoint as checkpoint-<N+1>.bin atomically,
//     then delete all but the newest two checkpoint files;
//  4. (loop) record the commit and delete the WAL segments whose records
//     are all at or below the previous checkpoint's LSN (kept so that a
//     corrupt newest checkpoint can fall back to the one before).
//
// A crash before 3 leaves files with seq N+1 that the next start deletes
// before it loads the previous checkpoint (which has those windows) and
// replays the WAL after it; a crash after 3 leaves a checkpoint holding
// everything up to A (the written windows in files, the others in the
// checkpoint), and the WAL records above A replay on top of it.
type flushJob struct {
	seq        uint64
	ws         []*window.Window
	audit      []table.AuditRow
	open       []table.LifecycleRow // the open presences snapshot
	ckpt       []byte               // the encoded checkpoint; the flusher adds the checksum
	applied    uint64               // its applied LSN
	walSegment int                  // its first WAL segment to replay
	now        time.Time
	garbage    []string // files of a failed flush, removed first
	expired    bool     // the checkpoint records forgotten emitters
}

// flushResult is the flusher's answer to the loop.
type flushResult struct {
	job     *flushJob
	written []string
	garbage []string // files to remove before the next attempt (on error)
	err     error
}

// startTimedFlush is the timer's flush: startCheckpoint of the windows
// closable now, paced so that encoding checkpoints stays a small share of
// the loop. A flush that fails is logged and retried by the flusher's
// result (finishFlush); nothing here can fail.
func (c *Collector) startTimedFlush() {
	if time.Since(c.fl.lastEncodeAt) >= checkpointCostFactor*c.fl.lastEncode {
		c.startCheckpoint(false, false)
	}
}

// startCheckpoint is startTimedFlush without the pacing; force commits a
// checkpoint even when nothing changed since the last one.
func (c *Collector) startCheckpoint(all, force bool) bool {
	if c.fl.flushing != nil {
		return false
	}
	now := c.cfg.Now()
	// Forgetting silent emitters changes the ledger with no WAL record, so
	// it forces a checkpoint.
	ingestNow := c.ingest.now()
	expired := c.ledger.Expire(ingestNow - int64(c.cfg.DedupeTTL))
	if expired > 0 {
		c.m.emittersExpired.Add(float64(expired))
		c.log.Info("forgot silent emitters", zap.Int("emitters", expired), zap.Duration("dedupe_ttl", c.cfg.DedupeTTL))
		c.fl.ledgerExpired = true
	}
	ws := c.takeClosable(now.UnixNano(), all)
	changed := c.applied > c.fl.ckptLSN || c.fl.ledgerExpired
	due := all || c.fl.ledgerExpired || now.Sub(c.fl.lastCkpt) >= checkpointEvery ||
		c.wal.BytesFrom(c.fl.snapSegment) >= checkpointWALBytes
	if len(ws) == 0 && !force && !(changed && due) {
		return false
	}
	seg, err := c.wal.Rotate()
	if err != nil && c.logLimit.Allow("rotate", time.Now()) {
		// Harmless: recovery also skips records by LSN, only damage in
		// the older records of this segment could now cut newer ones.
		c.log.Warn("cannot start a wal segment for the checkpoint", zap.Error(err))
	}
	seq := c.fl.flushSeq + 1
	t0 := time.Now()
	c.fl.lastEncodeAt = t0
	// The ledger and windows belong to the loop: encode them here, at
	// exactly the applied LSN the checkpoint names.
	c.presences.prune()
	b := appendCheckpointBody(c.fl.snapBuf[:0], seq, c.applied, seg, ingestNow, c.ledger, c.agg.Closable(0, 0, true), c.presences)
	c.fl.snapBuf = nil
	c.fl.lastEncode = time.Since(t0)
	c.fl.ckm.encodeSeconds.Observe(c.fl.lastEncode.Seconds())
	job := &flushJob{seq: seq, ws: ws, audit: c.ledger.AuditRows(), open: c.presences.openRows(), ckpt: b, applied: c.applied,
		walSegment: seg, now: now, garbage: c.fl.garbage, expired: c.fl.ledgerExpired}
	c.fl.garbage = nil
	c.fl.flushing = job
	go func() { c.fl.flushDone <- c.writeFlush(job) }()
	return true
}

// takeClosable removes from the aggregator the windows to flush: those
// whose end plus the allowed lateness has passed, every window when all is
// set, and the windows of a failed flush together with any newer partial
// window of the same start (closable as well; written in the same flush so
// the checkpoint never holds half of a window that is being written).
func (c *Collector) takeClosable(now int64, all bool) []*window.Window {
	ws := c.agg.Closable(now, c.cfg.AllowedLateness, all)
	if !all {
		ws = limitPartitions(ws, maxFlushPartitions)
	}
	for _, u := range c.fl.unflushed {
		if w := c.agg.Get(u.Start); w != nil && !contains(ws, w) {
			ws = append(ws, w)
		}
	}
	for _, w := range ws {
		c.agg.Remove(w)
	}
	ws = append(c.fl.unflushed, ws...)
	c.fl.unflushed = nil
	return ws
}

// maxFlushPartitions bounds the hour partitions, and so the files, one
// timed flush writes (one file per partition): late events spread over
// many hours are written over several flush ticks, oldest first, instead
// of thousands of files in one flush. Shutdown writes everything.
const maxFlushPartitions = 64

// limitPartitions keeps the oldest windows of ws (sorted oldest first) that
// fall in at most n hour partitions (the UTC hour of the window start, as
// table.Desc.PartitionDir has it).
func limitPartitions(ws []*window.Window, n int) []*window.Window {
	hours := 0
	var last time.Time
	for i, w := range ws {
		if h := time.Unix(0, w.Start).Truncate(time.Hour); i == 0 || !h.Equal(last) {
			if hours == n {
				return ws[:i]
			}
			hours++
			last = h
		}
	}
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
	c.fl.flushing = nil
	if cap(job.ckpt) <= maxSnapBuf {
		c.fl.snapBuf = job.ckpt[:0]
	}
	if res.err != nil {
		c.fl.garbage = append(c.fl.garbage, res.garbage...)
		c.fl.unflushed = append(c.fl.unflushed, job.ws...)
		c.m.flushErrors.Inc()
		if c.logLimit.Allow("flush", time.Now()) {
			c.log.Error("flush failed; windows stay in memory and are retried", zap.Error(res.err))
		}
		c.updateGauges()
		return res.err
	}
	// The WAL must keep every record above the older of the two
	// checkpoints kept; with no older one, above the new one.
	through := job.applied
	if c.fl.snapshotted {
		through = c.fl.ckptLSN
	}
	c.fl.prevLSN = through
	c.fl.flushSeq, c.fl.ckptLSN, c.fl.lastCkpt, c.fl.snapSegment = job.seq, job.applied, job.now, job.walSegment
	c.fl.snapshotted = true
	if job.expired {
		// Expiry happens only while no flush is in flight, so this
		// checkpoint holds every expiry so far.
		c.fl.ledgerExpired = false
	}
	c.m.checkpoints.Inc()
	c.m.filesWritten.Add(float64(len(res.written)))
	c.fl.ckm.bytes.Set(float64(len(job.ckpt)))
	if _, err := c.wal.RemoveThrough(through); err != nil {
		// Harmless for correctness: the checkpoint names the first
		// segment to read, older ones are never replayed.
		c.log.Warn("wal truncation failed", zap.Error(err))
	}
	c.updateGauges()
	return nil
}

// maxSnapBuf is the largest checkpoint buffer kept for the next checkpoint.
const maxSnapBuf = 256 << 20

// flushSync runs a flush to its end: it waits for the one in flight, then
// flushes what is closable now (everything when all is set) and waits for
// that too. Used by Flush and at shutdown, where it commits one more
// checkpoint if needed so that both checkpoints kept hold the final state
// and the WAL ends empty.
func (c *Collector) flushSync(all bool) error {
	var err error
	if c.fl.flushing != nil {
		err = c.finishFlush(<-c.fl.flushDone)
	}
	if c.startCheckpoint(all, false) {
		err = c.finishFlush(<-c.fl.flushDone)
	}
	if err == nil && all && c.wal.LastLSN() > c.fl.prevLSN {
		if c.startCheckpoint(true, true) {
			err = c.finishFlush(<-c.fl.flushDone)
		}
	}
	return err
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
	if err := table.Write(table.OpenPresencesPath(c.cfg.OutDir, c.id8), job.open); err != nil {
		res.garbage, res.err = written, fmt.Errorf("write open presences: %w", err)
		return res
	}
	c.crash(CrashBeforeCheckpoint)
	job.ckpt = finishCheckpoint(job.ckpt)
	path := filepath.Join(c.cfg.DataDir, checkpointName(job.seq))
	t0 := time.Now()
	if err := atomicfile.WriteFile(path, job.ckpt); err != nil {
		// A failure after the rename (the directory fsync) may have
		// committed it anyway; what is on disk decides, or the next
		// attempt would count these files twice or lose them.
		onDisk, lerr := readCheckpoint(path)
		if lerr != nil || onDisk.AppliedLSN != job.applied {
			res.garbage, res.err = written, fmt.Errorf("write checkpoint: %w", err)
			return res
		}
		c.log.Warn("checkpoint reported an error but is on disk; treating it as committed", zap.Error(err))
	}
	c.fl.ckm.writeSeconds.Observe(time.Since(t0).Seconds())
	c.crash(CrashAfterCheckpoint)
	if err := pruneCheckpoints(c.cfg.DataDir); err != nil {
		// Harmless: older checkpoints are never read while two newer exist.
		c.log.Warn("cannot delete old checkpoints", zap.Error(err))
	}
	return res
}

// writeWindows writes the flushed windows into every sink's table, one
// file per partition folder, and returns the paths it wrote, even on
// error, so a failed flush can be cleaned up.
func (c *Collector) writeWindows(ws []*window.Window, seq uint64) ([]string, error) {
	parts := map[string]func(string) error{}
	for _, s := range sinks {
		for dir, write := range s.parts(ws, c.cfg.OutDir, c.cfg.Window) {
			parts[dir] = write
		}
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
		if err := parts[dir](path); err != nil {
			if errors.Is(err, atomicfile.ErrInPlace) {
				// Renamed, not made durable: it is this flush's file
				// all the same, and must go before a retry re-numbers
				// the partitions, or a window is committed twice.
				written = append(written, path)
			}
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

// removeFiles deletes the files of a flush that was never committed (a
// failed one, or one a crash cut short): their flush seq will be committed
// by the next flush, so they must be gone first. It returns the ones it
// could not remove.
func removeFiles(paths []string) ([]string, error) {
	for i, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return paths[i:], fmt.Errorf("remove uncommitted file: %w", err)
		}
	}
	return nil, nil
}
