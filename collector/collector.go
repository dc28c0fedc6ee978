package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/wal"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/wire"
)

// Collector owns the WAL, the dedupe and audit ledger and the open windows.
// All of that state belongs to one goroutine, the ingest loop; HTTP handlers
// hand it decoded batches and wait for its verdict.
type Collector struct {
	cfg Config
	log *zap.Logger
	m   *metrics
	id8 string

	wal           *wal.WAL
	ledger        *ledger.Ledger
	agg           *window.Aggregator
	flushSeq      uint64
	applied       uint64        // last WAL record applied to memory
	ckptLSN       uint64        // applied LSN of the last committed checkpoint
	prevLSN       uint64        // applied LSN of the older checkpoint kept: the WAL holds every record above it
	snapshotted   bool          // that checkpoint holds the open windows (not a version 1 one)
	snapSegment   int           // first WAL segment after that checkpoint's LSN
	snapBuf       []byte        // a checkpoint encoding buffer, reused
	lastEncode    time.Duration // what encoding the last checkpoint took the loop
	lastEncodeAt  time.Time     // when it started (wall clock), for pacing
	ckm           *ckptMetrics
	lastCkpt      time.Time
	ledgerExpired bool             // emitters were forgotten since the last checkpoint
	ingest        ingestClock      // the collector's running time, for the dedupe TTL
	lastIngest    int64            // the newest ingest-clock reading replay saw
	garbage       []string         // files of a failed flush, removed before the next commit
	flushing      *flushJob        // the flush in flight, nil if none
	unflushed     []*window.Window // windows of a failed flush, retried by the next
	flushDone     chan flushResult // the flusher's answer
	crashHits     int
	hook          func(point string) // tests: called at every crash point

	// Per-group scratch, reused; two of some, for the two groups a commit
	// chain holds at once (see commitGroup).
	groups  [2][]*request
	pending [2]map[seqKey]struct{}
	walBufs [2][]byte
	frames  [][]byte
	dups    map[[16]byte]uint32
	hdr     recordHeader
	ev      wire.Event

	logLimit  rateLimits  // loop-only
	rejectLog sharedLimit // handlers

	queue    chan *request
	inflight chan struct{}
	mu       sync.RWMutex // guards closed against handlers enqueueing
	closed   bool
	ready    atomic.Bool
	started  bool
	stop     chan struct{}
	done     chan struct{}
	flushNow chan chan error

	shutdownErr error // the final flush's error, set by the loop before done
}

type seqKey struct {
	id  [16]byte
	seq uint64
}

// Open prepares the collector: it loads the checkpoint, deletes output files
// that were never committed, and replays the WAL, so that memory holds every
// acknowledged event not yet in committed files. Start begins ingesting.
func Open(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, d := range []string{cfg.DataDir, cfg.OutDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	id, err := loadOrCreateID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		cfg:      cfg,
		log:      log,
		m:        newMetrics(reg),
		ckm:      newCkptMetrics(reg),
		id8:      id.String()[:8],
		pending:  [2]map[seqKey]struct{}{make(map[seqKey]struct{}), make(map[seqKey]struct{})},
		dups:     make(map[[16]byte]uint32),
		queue:    make(chan *request, cfg.QueueSize),
		inflight: make(chan struct{}, cfg.MaxInflight),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		flushNow: make(chan chan error),
		// Buffered so that a flusher never waits on a loop that has
		// stopped waiting for it (a Shutdown whose context ran out).
		flushDone: make(chan flushResult, 1),
		lastCkpt:  cfg.Now(),
	}
	c.agg = window.New(window.Config{Width: cfg.Window, MaxGroups: cfg.MaxGroups, MaxModels: cfg.MaxModels, MaxTotalGroups: cfg.MaxTotalGroups})
	c.agg.OnOverflow = c.onOverflow
	if err := c.recover(); err != nil {
		return nil, err
	}
	c.ready.Store(true)
	return c, nil
}

func (c *Collector) recover() error {
	res, err := loadCheckpoint(c.cfg.DataDir)
	if err != nil {
		return err
	}
	cp := res.cp
	if res.corrupt != nil {
		moved, qerr := quarantineFile(res.corrupt.Path, filepath.Join(c.cfg.DataDir, quarantineDir))
		if qerr != nil {
			return fmt.Errorf("%w; moving it aside: %v", res.corrupt, qerr)
		}
		c.log.Error("newest checkpoint is corrupt; recovering from the one before it and the wal",
			zap.String("corrupt", res.corrupt.Path), zap.String("copy", moved), zap.Error(res.corrupt.Err),
			zap.String("checkpoint", cp.path))
	}
	c.flushSeq, c.applied, c.ckptLSN = cp.FlushSeq, cp.AppliedLSN, cp.AppliedLSN
	c.ledger = cp.Ledger
	c.ledger.SetLimits(ledger.Limits{MaxEmitters: c.cfg.MaxEmitters, MaxPerForwarder: c.cfg.MaxEmittersPerForwarder})
	c.lastIngest = max(cp.IngestNs, c.ledger.LatestActive())
	c.snapshotted = cp.path != ""
	for _, w := range cp.Windows {
		if err := c.agg.Restore(w); err != nil {
			return &CorruptCheckpointError{Path: cp.path, Err: err}
		}
	}
	// Files above the loaded flush seq are an uncommitted flush's only up
	// to one past the newest checkpoint on disk (a corrupt one included):
	// its successor may have crashed before committing. Anything beyond is
	// a file whose checkpoint is gone, and is never deleted.
	newest := c.flushSeq
	if res.corrupt != nil {
		if seq, ok := parseCheckpointName(filepath.Base(res.corrupt.Path)); ok {
			newest = max(newest, seq)
		}
	}
	redo, lost, err := uncommittedFiles(c.cfg.OutDir, c.id8, c.flushSeq, newest+1)
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		return unaccounted(c.cfg.DataDir, lost, c.flushSeq, fmt.Sprintf("their flush seqs are above %d, so the checkpoints that committed them were removed", newest+1))
	}
	opts := wal.Options{Quarantine: filepath.Join(c.cfg.DataDir, quarantineDir)}
	skip := uint64(0) // records at or below this are in the checkpoint
	if c.snapshotted {
		opts.SkipBelow, opts.SkipLSN, skip = cp.WALSegment, cp.AppliedLSN, cp.AppliedLSN
	}
	var firstReplayed uint64
	w, rec, err := wal.Open(filepath.Join(c.cfg.DataDir, walDir), opts,
		func(lsn uint64, payload []byte) error {
			if lsn > skip {
				if firstReplayed == 0 {
					firstReplayed = lsn
				}
				c.applyRecord(lsn, payload, false)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("open wal: %w", err)
	}
	c.wal = w
	// With no checkpoint at all, files of flush 1 are a first flush that
	// crashed only if the WAL still starts at its first record: a first
	// checkpoint would have cut it. Otherwise checkpoint files were
	// removed, and the files hold events the WAL no longer has.
	if cp.path == "" && len(redo) > 0 && firstReplayed != 1 {
		w.Close()
		return unaccounted(c.cfg.DataDir, redo, 0, "there is no checkpoint, and the write-ahead log no longer holds the events they were written from")
	}
	if err := removeUncommitted(redo); err != nil {
		w.Close()
		return err
	}
	if len(redo) > 0 {
		c.log.Info("removed output files of an uncommitted flush; replay writes their rows again", zap.Strings("files", redo))
	}
	c.snapSegment = cp.WALSegment
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
	if rec.LastLSN > c.applied {
		c.applied = rec.LastLSN
	}
	// The downtime just ended does not count as anyone's silence.
	c.ingest.resume(c.lastIngest, c.cfg.Now)
	c.log.Info("recovered",
		zap.String("checkpoint", cp.path), zap.Uint64("checkpoint_lsn", cp.AppliedLSN),
		zap.Int("checkpoint_windows", len(cp.Windows)),
		zap.Int("wal_records", rec.Records), zap.Uint64("applied_lsn", c.applied),
		zap.Uint64("flush_seq", c.flushSeq), zap.Int("open_windows", c.agg.Windows()),
		zap.Int("emitters", len(c.ledger.Emitters)))
	c.updateGauges()
	return nil
}

// Ready reports whether the WAL is open and batches can be taken.
func (c *Collector) Ready() bool { return c.ready.Load() }

// Start runs the ingest loop until Shutdown.
func (c *Collector) Start() {
	c.started = true
	go c.loop()
}

// Shutdown stops taking batches, lets queued ones finish, flushes every
// open window to files, checkpoints and closes the WAL. Call it after the
// HTTP server has stopped (http.Server.Shutdown), so no handler is left
// waiting. It is safe without Start.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return errors.New("collector already shut down")
	}
	if !c.started {
		go c.loop()
	}
	close(c.stop)
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
	c.ready.Store(false)
	if err := c.wal.Close(); err != nil {
		return fmt.Errorf("close wal: %w", err)
	}
	return c.shutdownErr
}

func (c *Collector) updateGauges() {
	c.m.openWindows.Set(float64(c.agg.Windows() + len(c.unflushed)))
	c.m.activeGroups.Set(float64(c.agg.Groups()))
	c.m.emitters.Set(float64(len(c.ledger.Emitters)))
	c.m.walSegments.Set(float64(c.wal.Segments()))
}
