package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/forwarder/spool"
	"github.com/readout-dev/readout/internal/lograte"
)

// Forwarder is the daemon: listener, batcher, spool writer and shipper.
type Forwarder struct {
	cfg    Config
	log    *zap.Logger
	m      *metrics
	ln     *net.UnixListener
	sp     *spool.Spool
	id     [16]byte
	sender Sender

	batcher *batcher
	sealed  chan *batch

	connMu sync.Mutex
	conns  map[*connState]struct{}
	connWG sync.WaitGroup
	nconns atomic.Int64

	draining atomic.Bool
	drainAt  atomic.Int64 // read deadline for open connections once draining
	drainCh  chan struct{}
	ready    atomic.Bool

	malformedLog, fullLog, retryLog, rejectLog lograte.Limit
	// diskLog keeps a failing disk, retried every second, to one line a minute.
	diskLog lograte.Limit

	life  lifecycle   // Start and Shutdown (lifecycle.go)
	local localIntake // sources inside the process (local.go)
}

// New opens the spool and the socket. cfg must have passed Validate. A nil
// logger means none; a nil registerer registers nothing.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	sp, err := spool.Open(cfg.Spool, spool.Options{MaxBytes: cfg.SpoolMaxBytes, SegmentBytes: cfg.SegmentBytes,
		Compression: spool.Compression(cfg.SpoolCompress), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	id, err := spool.LoadForwarderID(cfg.Spool)
	if err != nil {
		sp.Close()
		return nil, err
	}
	sender, err := newSender(cfg)
	if err != nil {
		sp.Close()
		return nil, err
	}
	ln, err := Listen(cfg.Socket, cfg.SocketMode)
	if err != nil {
		sender.Close()
		sp.Close()
		return nil, err
	}
	f := &Forwarder{
		cfg: cfg, log: log, sp: sp, id: id, sender: sender, ln: ln,
		sealed:  make(chan *batch, 4),
		conns:   make(map[*connState]struct{}),
		drainCh: make(chan struct{}),
		local:   localIntake{writerStopped: make(chan struct{})},
	}
	f.batcher = newBatcher(cfg, f.sealed)
	f.m = newMetrics(reg, sp)
	for _, r := range []*lograte.Limit{&f.malformedLog, &f.fullLog, &f.retryLog, &f.rejectLog} {
		r.Every = time.Second
	}
	f.diskLog.Every = time.Minute
	st := sp.Stats()
	log.Info("forwarder started", zap.String("socket", cfg.Socket), zap.String("spool", cfg.Spool),
		zap.String("collector", cfg.Collector), zap.Int("pending_batches", st.Pending), zap.Int64("spool_bytes", st.Bytes))
	if cfg.plaintextToken() {
		log.Warn("--insecure-plaintext-token: the bearer token goes to the collector in clear text over http://; "+
			"anyone on the network path can read it and send batches as this forwarder. Use https:// unless that network is trusted",
			zap.String("collector", cfg.Collector))
	}
	f.ready.Store(true)
	return f, nil
}

// ID returns the forwarder id kept in the spool.
func (f *Forwarder) ID() [16]byte { return f.id }

// Ready reports whether the socket is listening and the spool is open.
func (f *Forwarder) Ready() bool { return f.ready.Load() }

// Handler serves /metrics from g, /healthz and /readyz.
func (f *Forwarder) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !f.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Run serves until ctx ends, then drains: it stops accepting, reads what
// open connections still hold for DrainGrace, refuses further Appends from
// local sources (which should have finished by then), seals and spools
// what it holds, and ships until the spool is empty or DrainTimeout
// passes. What is not shipped stays in the spool for the next start.
func (f *Forwarder) Run(ctx context.Context) error {
	// hard ends the spool writer and the shipper when the drain runs out.
	hard, stopHard := context.WithCancel(context.Background())
	defer stopHard()
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		f.acceptLoop()
	}()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f.runWriter(hard, f.sealed)
	}()
	shipDone := make(chan struct{})
	go func() {
		defer close(shipDone)
		f.runShipper(hard)
	}()

	<-ctx.Done()
	start := time.Now()
	deadline := start.Add(f.cfg.DrainTimeout)
	f.log.Info("draining", zap.Duration("drain_timeout", f.cfg.DrainTimeout))
	f.ready.Store(false)
	timer := time.AfterFunc(f.cfg.DrainTimeout, stopHard)
	defer timer.Stop()

	f.drainAt.Store(time.Now().Add(f.cfg.DrainGrace).UnixNano())
	f.draining.Store(true)
	close(f.drainCh)
	// Emitters whose connections wait in the listen backlog have connected
	// and may have written events: take them before the listener goes, so
	// that what they sent is read and acknowledged rather than reset.
	f.ln.SetDeadline(time.Now().Add(backlogWindow))
	<-acceptDone
	f.ln.Close()
	f.connMu.Lock()
	for cs := range f.conns {
		cs.c.SetReadDeadline(time.Unix(0, f.drainAt.Load()))
	}
	f.connMu.Unlock()
	f.connWG.Wait()
	f.closeLocal()
	f.batcher.close()
	<-writerDone
	close(f.local.writerStopped)

	drainErr := f.sp.WaitDrained(hard)
	stopHard()
	<-shipDone
	f.sender.Close()
	st := f.sp.Stats()
	if err := f.sp.Close(); err != nil {
		return err
	}
	if drainErr != nil && !errors.Is(drainErr, context.Canceled) {
		return drainErr
	}
	if st.Pending > 0 {
		f.log.Warn("drain timeout: batches left in the spool for the next start",
			zap.Int("pending_batches", st.Pending), zap.Time("deadline", deadline))
	} else {
		f.log.Info("drained", zap.Duration("took", time.Since(start)))
	}
	return nil
}

// backlogWindow is how long a draining forwarder keeps accepting, to empty
// the listen backlog; accepting a waiting connection takes microseconds.
const backlogWindow = 50 * time.Millisecond

// acceptLoop accepts connections until the listener closes, or until the
// backlog is empty once draining has begun.
func (f *Forwarder) acceptLoop() {
	for {
		c, err := f.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || (f.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded)) {
				return
			}
			f.log.Error("accept", zap.Error(err))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if f.nconns.Load() >= int64(f.cfg.MaxConns) {
			f.m.connsRejected.WithLabelValues("max_conns").Inc()
			if f.rejectLog.Allow(time.Now()) {
				f.log.Warn("connection limit reached; closing new connection", zap.Int("max_conns", f.cfg.MaxConns))
			}
			c.Close()
			continue
		}
		if len(f.cfg.AllowUIDs) > 0 {
			uid, err := peerUID(c)
			if err != nil || !allowed(f.cfg.AllowUIDs, uid) {
				f.m.connsRejected.WithLabelValues("peer_uid").Inc()
				if f.rejectLog.Allow(time.Now()) {
					f.log.Warn("peer uid not allowed; closing connection", zap.Uint32("uid", uid), zap.Error(err))
				}
				c.Close()
				continue
			}
		}
		f.nconns.Add(1)
		f.connWG.Add(1)
		go f.serve(c)
	}
}
