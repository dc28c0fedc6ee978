package collector

import (
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/wal"
)

// recover rebuilds memory at start (docs/collector-recovery.md): load the
// newest good checkpoint, sort out the output files it does not commit,
// replay the WAL after it, and only then delete the files replay will
// write again.
func (c *Collector) recover() error {
	cp, newest, err := c.restoreCheckpoint()
	if err != nil {
		return err
	}
	// Files above the loaded flush seq are an uncommitted flush's only up
	// to one past the newest checkpoint on disk (a corrupt one included):
	// its successor may have crashed before committing. Anything beyond is
	// a file whose checkpoint is gone, and is never deleted.
	redo, lost, err := uncommittedFiles(c.cfg.OutDir, c.id8, c.fl.flushSeq, newest+1)
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		return unaccounted(c.cfg.DataDir, lost, c.fl.flushSeq, fmt.Sprintf("their flush seqs are above %d, so the checkpoints that committed them were removed", newest+1))
	}
	rec, firstReplayed, err := c.replayWAL(cp)
	if err != nil {
		return err
	}
	// With no checkpoint at all, files of flush 1 are a first flush that
	// crashed only if the WAL still starts at its first record: a first
	// checkpoint would have cut it. Otherwise checkpoint files were
	// removed, and the files hold events the WAL no longer has.
	if cp.path == "" && len(redo) > 0 && firstReplayed != 1 {
		c.wal.Close()
		return unaccounted(c.cfg.DataDir, redo, 0, "there is no checkpoint, and the write-ahead log no longer holds the events they were written from")
	}
	if err := removeUncommitted(redo); err != nil {
		c.wal.Close()
		return err
	}
	if len(redo) > 0 {
		c.log.Info("removed output files of an uncommitted flush; replay writes their rows again", zap.Strings("files", redo))
	}
	// The downtime just ended does not count as anyone's silence.
	c.ingest.resume(c.lastIngest, c.cfg.Now)
	c.log.Info("recovered",
		zap.String("checkpoint", cp.path), zap.Uint64("checkpoint_lsn", cp.AppliedLSN),
		zap.Int("checkpoint_windows", len(cp.Windows)),
		zap.Int("wal_records", rec.Records), zap.Uint64("applied_lsn", c.applied),
		zap.Uint64("flush_seq", c.fl.flushSeq), zap.Int("open_windows", c.agg.Windows()),
		zap.Int("emitters", len(c.ledger.Emitters)))
	c.updateGauges()
	return nil
}

// restoreCheckpoint loads the newest good checkpoint into memory,
// quarantining a corrupt newest one, and returns it with the flush seq of
// the newest checkpoint file found (the corrupt one's, if any).
func (c *Collector) restoreCheckpoint() (*checkpoint, uint64, error) {
	res, err := loadCheckpoint(c.cfg.DataDir)
	if err != nil {
		return nil, 0, err
	}
	cp := res.cp
	newest := cp.FlushSeq
	if res.corrupt != nil {
		moved, qerr := quarantineFile(res.corrupt.Path, filepath.Join(c.cfg.DataDir, quarantineDir))
		if qerr != nil {
			return nil, 0, fmt.Errorf("%w; moving it aside: %v", res.corrupt, qerr)
		}
		c.log.Error("newest checkpoint is corrupt; recovering from the one before it and the wal",
			zap.String("corrupt", res.corrupt.Path), zap.String("copy", moved), zap.Error(res.corrupt.Err),
			zap.String("checkpoint", cp.path))
		if seq, ok := parseCheckpointName(filepath.Base(res.corrupt.Path)); ok {
			newest = max(newest, seq)
		}
	}
	c.fl.flushSeq, c.applied, c.fl.ckptLSN = cp.FlushSeq, cp.AppliedLSN, cp.AppliedLSN
	c.fl.snapshotted, c.fl.snapSegment = cp.path != "", cp.WALSegment
	c.ledger = cp.Ledger
	if cp.Presences != nil {
		c.presences = cp.Presences
	}
	c.ledger.SetLimits(ledger.Limits{MaxEmitters: c.cfg.MaxEmitters, MaxPerForwarder: c.cfg.MaxEmittersPerForwarder})
	c.lastIngest = max(cp.IngestNs, c.ledger.LatestActive())
	for _, w := range cp.Windows {
		if err := c.agg.Restore(w); err != nil {
			return nil, 0, &CorruptCheckpointError{Path: cp.path, Err: err}
		}
	}
	return cp, newest, nil
}

// replayWAL opens the WAL and applies every record above the checkpoint,
// through the same code the live path uses. It returns what the WAL found
// and the first LSN it replayed (0 for none).
func (c *Collector) replayWAL(cp *checkpoint) (wal.Recovery, uint64, error) {
	opts := wal.Options{Quarantine: filepath.Join(c.cfg.DataDir, quarantineDir)}
	skip := uint64(0) // records at or below this are in the checkpoint
	if c.fl.snapshotted {
		opts.SkipBelow, opts.SkipLSN, skip = cp.WALSegment, cp.AppliedLSN, cp.AppliedLSN
	}
	var first uint64
	w, rec, err := wal.Open(filepath.Join(c.cfg.DataDir, walDir), opts,
		func(lsn uint64, payload []byte) error {
			if lsn > skip {
				if first == 0 {
					first = lsn
				}
				c.applyRecord(lsn, payload, false)
			}
			return nil
		})
	if err != nil {
		return rec, 0, fmt.Errorf("open wal: %w", err)
	}
	c.wal = w
	c.m.walTorn.Add(float64(rec.TornTails))
	c.m.walQuarantined.Add(float64(len(rec.Quarantined)))
	c.m.replayed.Add(float64(rec.Records))
	for _, d := range rec.Damage {
		if d.Torn {
			c.log.Warn("truncated a torn wal tail", zap.String("segment", d.Segment), zap.Int64("offset", d.Offset), zap.Error(d.Err))
			continue
		}
		c.log.Error("corrupt wal segment quarantined; records after the damage are lost",
			zap.String("segment", d.Segment), zap.Int64("offset", d.Offset), zap.String("copy", d.Copy), zap.Error(d.Err))
	}
	if rec.LostBytes > 0 {
		c.log.Warn("wal bytes cut off at open", zap.Int64("lost_bytes", rec.LostBytes))
	}
	c.applied = max(c.applied, rec.LastLSN)
	return rec, first, nil
}
