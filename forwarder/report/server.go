package report

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/readout-dev/readout/forwarder"
	"github.com/readout-dev/readout/internal/connlimit"
	"github.com/readout-dev/readout/internal/lograte"
	"github.com/readout-dev/readout/internal/netpolicy"
	"github.com/readout-dev/readout/wire"
)

// Spool takes encoded events into the forwarder's spool;
// *forwarder.Forwarder is the one used (see its Append for the contract:
// validation as for an emitter's frames, wait until fsynced). It must be
// safe for concurrent use and must not retain frame.
type Spool interface {
	Append(frame []byte) (wait func(ctx context.Context) error, err error)
}

// Server is the report listener. Its events carry an emitter identity of
// their own: an id drawn at New (a fresh one every process start, as an
// emitter's), and seqs 1, 2, 3... in the order they are handed to the
// spool; Shutdown ends them with a closed message carrying the last seq,
// so the collector's audit can account for every one.
type Server struct {
	cfg Config
	log *zap.Logger
	m   *metrics
	sp  Spool
	ln  net.Listener
	srv *http.Server
	lim *rate.Limiter
	id  [16]byte

	// mu orders seq assignment with the hand-on to the spool: a seq is
	// used only once its event is handed on, so the seqs have no gaps.
	mu     sync.Mutex
	seq    uint64
	closed bool

	rejectLog lograte.Kinds

	lifeMu   sync.Mutex
	started  bool
	stopping bool
	stopped  chan struct{} // closed when the first Shutdown has finished
	stopErr  error
}

// New checks cfg, listens on cfg.Addr and draws the emitter id; it serves
// nothing until Start. A nil logger means none; a nil registerer registers
// nothing. Like the collector, it judges the address actually bound: a
// name that resolved to a non-loopback address needs a token too.
func New(cfg Config, sp Spool, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	inner, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("--report-addr: %w", err)
	}
	if cfg.Token == "" {
		open := true
		if a, ok := inner.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
			open = !netpolicy.LoopbackOnly(host)
		}
		switch {
		case open && !cfg.InsecureNoAuth:
			inner.Close()
			return nil, fmt.Errorf("--report-addr %s bound %s, which is not loopback-only: give --report-token-file, or --report-insecure-no-auth to accept reports from anyone",
				cfg.Addr, inner.Addr())
		case open:
			log.Warn("--report-insecure-no-auth: accepting reports without a token from anyone who can reach --report-addr",
				zap.String("report_addr", inner.Addr().String()))
		}
	} else if !netpolicy.LoopbackOnly(host) {
		log.Warn("bearer token over plain HTTP on a non-loopback --report-addr: anyone on the path can read it",
			zap.String("report_addr", inner.Addr().String()))
	}
	u, err := uuid.NewRandom()
	if err != nil {
		inner.Close()
		return nil, fmt.Errorf("report emitter id: %w", err)
	}
	s := &Server{
		cfg: cfg, log: log, m: newMetrics(reg), sp: sp, id: u,
		ln:        connlimit.New(inner, cfg.MaxConns, nil, "report"),
		lim:       rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		rejectLog: lograte.Kinds{Every: 10 * time.Second},
		stopped:   make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A handler waits at most WaitTimeout for the fsync; the answer
		// itself is a few bytes.
		WriteTimeout:   30*time.Second + cfg.WaitTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       zap.NewStdLog(log.With(zap.String("server", "report"))),
	}
	return s, nil
}

// Addr returns the address listened on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// EmitterID returns the emitter id the server's events carry.
func (s *Server) EmitterID() [16]byte { return s.id }

// Start serves in the background until Shutdown. Later calls, and calls
// after Shutdown, do nothing.
func (s *Server) Start() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.started || s.stopping {
		return
	}
	s.started = true
	s.log.Info("report server started", zap.String("report_addr", s.ln.Addr().String()),
		zap.Bool("auth", s.cfg.Token != ""), zap.String("emitter_id", hex.EncodeToString(s.id[:])),
		zap.Float64("rate", s.cfg.Rate), zap.Int("burst", s.cfg.Burst))
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("report server", zap.Error(err))
		}
	}()
}

// Shutdown stops accepting, lets the requests in flight finish (until ctx
// ends; then they are cut off), and then hands the spool the closed
// message that ends this emitter's audit, waiting until it is durable.
// It must run before the forwarder drains, which refuses Appends. It is
// safe without Start and idempotent: later calls wait for the first and
// return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lifeMu.Lock()
	if s.stopping {
		s.lifeMu.Unlock()
		select {
		case <-s.stopped:
			return s.stopErr
		case <-ctx.Done():
			return fmt.Errorf("report shutdown: %w", ctx.Err())
		}
	}
	s.stopping = true
	s.lifeMu.Unlock()
	defer close(s.stopped)

	if err := s.srv.Shutdown(ctx); err != nil {
		s.log.Warn("report server: requests still in flight at the drain deadline; closing them", zap.Error(err))
		s.srv.Close()
	}
	s.ln.Close() // Serve may never have run
	s.stopErr = s.sendClosed(ctx)
	return s.stopErr
}

// sendClosed refuses further events and spools the closed message with
// the last seq. Without events there is nothing to close: the emitter
// never appears in the audit.
func (s *Server) sendClosed(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	last := s.seq
	if last == 0 {
		s.mu.Unlock()
		s.log.Info("report server stopped; it took no reports")
		return nil
	}
	ev := wire.Event{EmitterID: s.id, Seq: last, Kind: wire.KindClosed, TimestampNs: time.Now().UnixNano()}
	if id, err := uuid.NewV7(); err == nil {
		ev.ID = id
	}
	wait, err := s.sp.Append(wire.AppendEvent(nil, &ev))
	s.mu.Unlock()
	if err == nil {
		err = wait(ctx)
	}
	if err != nil {
		s.log.Error("report server: closed message not stored; the audit will show this emitter as not closed",
			zap.String("emitter_id", hex.EncodeToString(s.id[:])), zap.Uint64("last_seq", last), zap.Error(err))
		return fmt.Errorf("report closed message: %w", err)
	}
	s.log.Info("report server stopped", zap.String("emitter_id", hex.EncodeToString(s.id[:])), zap.Uint64("last_seq", last))
	return nil
}

// ServeHTTP answers one report. It is the only place that speaks status
// codes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := pathLabel(r.URL.Path)
	code := s.serve(w, r, path)
	s.m.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string) int {
	// Every request counts against the bucket, whatever it turns out to
	// be: the limit is the whole address's.
	if !s.lim.Allow() {
		// At 100/s the next token is 10 ms away; 1 is the least whole
		// number of seconds Retry-After can say.
		w.Header().Set("Retry-After", "1")
		return s.refuse(w, r, &reqError{http.StatusTooManyRequests, reasonRateLimited,
			fmt.Sprintf("over %v requests a second (burst %d); retry later", s.cfg.Rate, s.cfg.Burst)})
	}
	if path == otherPath {
		return s.refuse(w, r, &reqError{http.StatusNotFound, reasonNotFound,
			"no such path; POST to " + PathInstanceState + ", " + PathSetupRun + " or " + PathDownloadMetrics})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return s.refuse(w, r, &reqError{http.StatusMethodNotAllowed, reasonMethod, "POST a JSON object"})
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="readout"`)
		return s.refuse(w, r, &reqError{http.StatusUnauthorized, reasonUnauthorized, "missing or wrong bearer token"})
	}
	tooLarge := &reqError{http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Sprintf("body over %d bytes", MaxBodyBytes)}
	if r.ContentLength > MaxBodyBytes {
		return s.refuse(w, r, tooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return s.refuse(w, r, tooLarge)
		}
		return s.refuse(w, r, &reqError{http.StatusBadRequest, reasonBadJSON, "reading body: " + oneLine(err.Error())})
	}
	received := time.Now()
	f, rerr := parseObject(body)
	var ev wire.Event
	var unmapped string // a setup status word stored as unknown
	if rerr == nil {
		switch path {
		case PathInstanceState:
			ev, rerr = instanceState(f, received.UnixNano())
		case PathSetupRun:
			ev, unmapped, rerr = setupRun(f)
		case PathDownloadMetrics:
			ev, rerr = download(f, received.UnixNano())
		}
	}
	if rerr != nil {
		return s.refuse(w, r, rerr)
	}
	wait, rerr := s.submit(&ev)
	if rerr != nil {
		return s.refuse(w, r, rerr)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WaitTimeout)
	defer cancel()
	if err := wait(ctx); err != nil {
		// The event is in the batcher or the spool: it may still be
		// stored, and a retry is then a second event (JSON reports carry
		// no id to deduplicate by).
		return s.refuse(w, r, &reqError{http.StatusServiceUnavailable, reasonNotDurable,
			"the event was not durable in time and may or may not be stored: " + oneLine(err.Error())})
	}
	s.m.durable.Observe(time.Since(received).Seconds())
	s.m.accepted.WithLabelValues(ev.Kind.String()).Inc()
	if unmapped != "" {
		s.m.unmapped.Inc()
		if s.rejectLog.Allow("unmapped_status", time.Now()) {
			s.log.Warn("setup run status has no enumerant; stored as unknown (logged at most every 10s)",
				zap.String("status", clip(unmapped)))
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// submit numbers ev as this server's next event and hands it to the
// spool.
func (s *Server) submit(ev *wire.Event) (func(context.Context) error, *reqError) {
	if id, err := uuid.NewV7(); err == nil {
		ev.ID = id
	}
	ev.EmitterID = s.id
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &reqError{http.StatusServiceUnavailable, reasonDraining, "the forwarder is shutting down"}
	}
	ev.Seq = s.seq + 1
	frame := wire.AppendEvent(make([]byte, 0, wire.EncodedSize(ev)), ev)
	wait, err := s.sp.Append(frame)
	if err != nil {
		return nil, appendError(err, len(frame))
	}
	s.seq = ev.Seq
	return wait, nil
}

// appendError turns Append's refusal into an answer.
func appendError(err error, size int) *reqError {
	var fe *wire.FrameError
	switch {
	case errors.Is(err, forwarder.ErrDraining):
		return &reqError{http.StatusServiceUnavailable, reasonDraining, "the forwarder is shutting down"}
	case errors.Is(err, forwarder.ErrSpoolFull):
		return &reqError{http.StatusServiceUnavailable, reasonSpoolFull, "the forwarder's spool is full; retry later"}
	case errors.As(err, &fe) && fe.Reason == "size":
		return &reqError{http.StatusRequestEntityTooLarge, reasonTooLarge,
			fmt.Sprintf("the event is %d bytes, over the forwarder's --max-message-size", size)}
	}
	return &reqError{http.StatusBadRequest, reasonInvalidEvent, "the event is not valid: " + oneLine(err.Error())}
}

// refuse answers an error in one line of plain text and counts it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, e *reqError) int {
	s.m.rejected.WithLabelValues(e.reason).Inc()
	if e.code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if e.code == http.StatusUnauthorized || e.code == http.StatusMethodNotAllowed || e.code == http.StatusRequestEntityTooLarge {
		// Answered without reading the body (or before the client is
		// known): close the connection rather than drain what it sends.
		w.Header().Set("Connection", "close")
	}
	if s.rejectLog.Allow(e.reason, time.Now()) {
		s.log.Warn("report rejected (logged at most every 10s per reason)", zap.Int("status", e.code),
			zap.String("reason", e.reason), zap.String("path", clip(r.URL.Path)), zap.String("detail", e.msg),
			zap.String("remote", r.RemoteAddr))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.code)
	io.WriteString(w, e.msg+"\n")
	return e.code
}

// authorized checks the bearer token as the collector does: the scheme
// without regard to case, the token through SHA-256 digests compared in
// constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(s.cfg.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
