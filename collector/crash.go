package collector

import (
	"os"
	"syscall"
)

// Fault-injection points. When Config.CrashPoint names one, the process
// kills itself with SIGKILL the CrashAfter-th time (first time when 0) it
// reaches the point, so tests can prove recovery from a crash exactly there.
// cmd/collector sets them from READOUT_COLLECTOR_CRASH_POINT and
// READOUT_COLLECTOR_CRASH_AFTER; nothing else does.
const (
	CrashAfterWALAppend   = "after-wal-append"  // group fsynced, not applied, not acknowledged
	CrashAfterFile        = "after-file"        // first Parquet file of a flush written, checkpoint not
	CrashMidFile          = "mid-file"          // a Parquet file half written under its temp name
	CrashBeforeCheckpoint = "before-checkpoint" // all files and the audit written, checkpoint not
	CrashAfterCheckpoint  = "after-checkpoint"  // checkpoint written, WAL not yet truncated
)

// pointFlushStart is where the flusher begins, before any file is written;
// only tests stop there (through hook).
const pointFlushStart = "flush-start"

func (c *Collector) crash(point string) {
	if c.faults.hook != nil {
		c.faults.hook(point)
	}
	if c.cfg.CrashPoint != point {
		return
	}
	c.faults.crashHits++
	if c.faults.crashHits < c.cfg.CrashAfter {
		return
	}
	c.log.Warn("fault injection: killing the process")
	_ = c.log.Sync()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; wait for it
}
