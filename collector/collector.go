package collector

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/wal"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/internal/lograte"
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

	// The ingest loop's state: what the WAL, replayed or live, builds.
	wal        *wal.WAL
	ledger     *ledger.Ledger
	agg        *window.Aggregator
	presences  *presences  // endpoint presences from lifecycle events (presence.go)
	applied    uint64      // last WAL record applied to memory
	ingest     ingestClock // the collector's running time, for the dedupe TTL
	lastIngest int64       // the newest ingest-clock reading replay saw
	logLimit   lograte.Kinds

	fl      flushState   // flushes and checkpoints (flush.go)
	scratch groupScratch // group commit buffers (ingest.go)
	intake  intake       // where Submit hands batches to the loop (submit.go)
	faults  faults       // fault injection (crash.go)

	// Lifecycle.
	ready       atomic.Bool
	started     bool
	stop        chan struct{}
	done        chan struct{}
	flushNow    chan chan error
	shutdownErr error         // the final flush's error, set by the loop before done
	shutDone    chan struct{} // closed once Shutdown has finished
	closeErr    error         // Shutdown's result, set before closed
}

// flushState is the loop's record of flushes and checkpoints.
type flushState struct {
	flushSeq      uint64
	ckptLSN       uint64        // applied LSN of the last committed checkpoint
	prevLSN       uint64        // applied LSN of the older checkpoint kept: the WAL holds every record above it
	snapshotted   bool          // a checkpoint was loaded or committed
	snapSegment   int           // first WAL segment after that checkpoint's LSN
	snapBuf       []byte        // a checkpoint encoding buffer, reused
	lastEncode    time.Duration // what encoding the last checkpoint took the loop
	lastEncodeAt  time.Time     // when it started (wall clock), for pacing
	ckm           *ckptMetrics
	lastCkpt      time.Time
	ledgerExpired bool             // emitters were forgotten since the last checkpoint
	garbage       []string         // files of a failed flush, removed before the next commit
	flushing      *flushJob        // the flush in flight, nil if none
	unflushed     []*window.Window // windows of a failed flush, retried by the next
	flushDone     chan flushResult // the flusher's answer
}

// groupScratch is per-group scratch, reused; two of some, for the two
// groups a commit chain holds at once (see commitGroup).
type groupScratch struct {
	groups  [2][]*request
	pending [2]map[seqKey]struct{}
	walBufs [2][]byte
	frames  [][]byte
	dups    map[[16]byte]uint32
	hdr     recordHeader
	ev      wire.Event
}

// intake is the queue between callers of Submit and the ingest loop.
type intake struct {
	queue     chan *request
	inflight  chan struct{} // HTTP requests read or waiting (handler.go)
	mu        sync.RWMutex  // guards closed against callers enqueueing
	closed    bool
	rejectLog lograte.Limit // handlers
}

// faults is fault injection for tests (crash.go).
type faults struct {
	crashHits int
	hook      func(point string) // tests: called at every crash point
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
		id8:      id.String()[:8],
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		flushNow: make(chan chan error),
		shutDone: make(chan struct{}),
		fl: flushState{
			ckm: newCkptMetrics(reg),
			// Buffered so that a flusher never waits on a loop that has
			// stopped waiting for it (a Shutdown whose context ran out).
			flushDone: make(chan flushResult, 1),
			lastCkpt:  cfg.Now(),
		},
		scratch: groupScratch{
			pending: [2]map[seqKey]struct{}{make(map[seqKey]struct{}), make(map[seqKey]struct{})},
			dups:    make(map[[16]byte]uint32),
		},
		intake: intake{
			queue:     make(chan *request, cfg.QueueSize),
			inflight:  make(chan struct{}, cfg.MaxInflight),
			rejectLog: lograte.Limit{Every: logEvery},
		},
		logLimit: lograte.Kinds{Every: logEvery},
	}
	c.presences = newPresences()
	c.agg = window.New(window.Config{Width: cfg.Window, MaxGroups: cfg.MaxGroups, MaxModels: cfg.MaxModels, MaxTotalGroups: cfg.MaxTotalGroups})
	c.agg.OnOverflow = c.onOverflow
	if err := c.recover(); err != nil {
		return nil, err
	}
	c.ready.Store(true)
	return c, nil
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
// waiting. It is safe without Start, and idempotent: a later call waits
// for the first and returns its result. A ctx that ends first leaves the
// shutdown running; call Shutdown again to wait for it.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.intake.mu.Lock()
	first := !c.intake.closed
	c.intake.closed = true
	c.intake.mu.Unlock()
	if first {
		if !c.started {
			go c.loop()
		}
		close(c.stop)
		go func() {
			<-c.done
			c.ready.Store(false)
			err := c.shutdownErr
			if werr := c.wal.Close(); werr != nil {
				err = fmt.Errorf("close wal: %w", werr)
			}
			c.closeErr = err
			close(c.shutDone)
		}()
	}
	select {
	case <-c.shutDone:
		return c.closeErr
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

func (c *Collector) updateGauges() {
	c.m.openWindows.Set(float64(c.agg.Windows() + len(c.fl.unflushed)))
	c.m.activeGroups.Set(float64(c.agg.Groups()))
	c.m.emitters.Set(float64(len(c.ledger.Emitters)))
	c.m.walSegments.Set(float64(c.wal.Segments()))
}
