// Command collector receives event batches from forwarders, makes them
// durable, deduplicates and aggregates them into event-time windows, and
// writes the windows as Parquet files under --out.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/collector"
	"github.com/readout-dev/readout/internal/connlimit"
	"github.com/readout-dev/readout/internal/daemon"
)

const usage = `Usage: collector --listen HOST:PORT --data DIR --out DIR [flags]

Receives Batch messages on POST /v1/batches (Content-Type application/x-capnp,
optionally Content-Encoding zstd), acknowledges each only once it is fsynced
in the write-ahead log under --data, drops duplicates by (emitter id, seq),
aggregates inference events into tumbling event-time windows and writes them
as Parquet files under --out/inference/date=YYYY-MM-DD/hour=HH/, with the
per-emitter audit under --out/audit/. SIGTERM or SIGINT: stop taking batches,
finish those in flight, write every open window, exit 0.

A bearer token (--token-file) is required unless --listen is a loopback
address or --insecure-no-auth is given. "localhost" counts as loopback only
when every address it resolves to is a loopback address; other host names
and wildcard addresses (0.0.0.0, ::) never do. --tls-cert and --tls-key
(both or neither) serve HTTPS on --listen, TLS 1.2 at least.

--listen holds at most --max-conns connections open, counted before TLS and
authentication; past it the collector stops accepting and new connections
wait in the kernel's listen backlog until one closes (idle connections close
after 2m, a request's headers must arrive within 10s). --metrics-addr holds
at most 64. At start the collector makes sure RLIMIT_NOFILE fits both caps
plus 64 descriptors for its own files, raising the soft limit up to the
hard limit if needed, and otherwise refuses to start (exit 2).

Flags:
`

// exitConfig is the exit status for configuration errors.
const exitConfig = 2

// metricsMaxConns caps --metrics-addr: scrapers, health checks and a
// profile or two need far fewer.
const metricsMaxConns = 64

// nofile is the descriptor limit the connection caps must fit; tests
// replace it.
var nofile = connlimit.System

func main() {
	os.Exit(run(os.Args[1:]))
}

type options struct {
	cfg         collector.Config
	metricsAddr string
	pprof       bool
	tokenFile   string
	logLevel    string
	tls         *tls.Config // nil serves plain HTTP
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	// Errors are reported in one line by run; only --help prints usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(os.Stdout)
		fmt.Fprint(os.Stdout, usage)
		fs.PrintDefaults()
	}
	o := &options{cfg: collector.DefaultConfig()}
	c := &o.cfg
	fs.StringVar(&c.Listen, "listen", "", "HOST:PORT to take batches on (required)")
	fs.StringVar(&c.DataDir, "data", "", "folder for the write-ahead log and state (required)")
	fs.StringVar(&c.OutDir, "out", "", "folder for the Parquet tables (required)")
	fs.DurationVar(&c.Window, "window", collector.DefaultWindow, "tumbling event-time window width (whole seconds, dividing an hour)")
	fs.DurationVar(&c.AllowedLateness, "allowed-lateness", collector.DefaultAllowedLateness, "a window is written this long after it ends (wall clock); later events become extra rows")
	fs.DurationVar(&c.FlushInterval, "flush-interval", collector.DefaultFlushInterval, "how often closable windows are written")
	fs.IntVar(&c.MaxGroups, "max-groups", collector.DefaultMaxGroups, "groups per window before new keys fold into an overflow key per model")
	fs.IntVar(&c.MaxModels, "max-models", collector.DefaultMaxModels, "models per window before new models fold into \"__other__\"")
	fs.IntVar(&c.MaxWindows, "max-windows", collector.DefaultMaxWindows, "open windows in all before late events may not open more (they take their arrival time, counted)")
	fs.IntVar(&c.MaxTotalGroups, "max-total-groups", collector.DefaultMaxTotalGroups, "groups across all open windows before new keys fold into an overflow key per model")
	fs.IntVar(&c.MaxEmitters, "max-emitters", collector.DefaultMaxEmitters, "emitters tracked for dedupe and audit in all; past it new emitters are counted untracked")
	fs.IntVar(&c.MaxEmittersPerForwarder, "max-emitters-per-forwarder", collector.DefaultMaxPerForwarder, "emitters tracked per forwarder; past it its new emitters are counted untracked")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", collector.DefaultMaxBodyBytes, "request body limit, compressed and decompressed")
	fs.DurationVar(&c.DedupeTTL, "dedupe-ttl", collector.DefaultDedupeTTL, "forget an emitter's seqs after this long without arrivals, measured in the collector's running time (an outage does not count)")
	fs.BoolVar(&c.InsecureNoAuth, "insecure-no-auth", false, "accept batches without a token on a non-loopback --listen")
	fs.IntVar(&c.MaxConns, "max-conns", collector.DefaultMaxConns, "connections --listen holds open (before TLS and auth); more wait in the kernel's backlog")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "HOST:PORT for /metrics, /healthz and /readyz (off when empty)")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve Go's profiler at /debug/pprof/ on --metrics-addr")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token forwarders must send")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate chain file; with --tls-key, serve HTTPS on --listen")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Listen == "" {
		return nil, errors.New("--listen is required")
	}
	if c.MaxConns < 1 {
		return nil, fmt.Errorf("--max-conns %d must be at least 1 (there is no unlimited)", c.MaxConns)
	}
	var err error
	if c.Token, err = daemon.ReadTokenFile("--token-file", o.tokenFile); err != nil {
		return nil, err
	}
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return nil, fmt.Errorf("--metrics-addr %q: %v", o.metricsAddr, err)
		}
	}
	// Fault injection for the crash tests; see collector/crash.go.
	c.CrashPoint = os.Getenv("READOUT_COLLECTOR_CRASH_POINT")
	if s := os.Getenv("READOUT_COLLECTOR_CRASH_AFTER"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("READOUT_COLLECTOR_CRASH_AFTER: %v", err)
		}
		c.CrashAfter = n
	}
	if err := c.Validate(); err != nil {
		return nil, errors.New(configErrorInFlags(err, fs, c))
	}
	if c.TLSCert != "" {
		t, err := collector.LoadTLSConfig(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, errors.New(oneLine(err.Error()))
		}
		o.tls = t
	}
	return o, nil
}

// oneLine keeps a configuration error on one line of stderr.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "collector: "+err.Error())
		return exitConfig
	}
	log, err := daemon.NewLogger(o.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "collector: "+err.Error())
		return exitConfig
	}
	defer log.Sync()
	// Take SIGTERM from the first moment anything can see us (/readyz,
	// the ingest port): a signal that arrives during recovery is kept and
	// answered with a clean shutdown once started, never the default kill.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	daemon.WarnIfWorldReadable(log, "--token-file", o.tokenFile)
	daemon.WarnIfWorldReadable(log, "--tls-key", o.cfg.TLSKey)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := fitDescriptors(o); err != nil {
		fmt.Fprintln(os.Stderr, "collector: "+err.Error())
		return exitConfig
	}
	// Listen before recovering so that a taken port is a fast config error.
	ln, opsLn, err := listen(o, log, connlimit.NewMetrics(reg, "readout", "collector"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "collector: "+err.Error())
		return exitConfig
	}
	c, err := collector.Open(o.cfg, log, reg)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		fmt.Fprintln(os.Stderr, "collector: "+err.Error())
		return 1
	}
	c.Start()
	srv, ops, serveErr := serve(o, log, reg, c, ln, opsLn)
	log.Info("collector started", zap.String("listen", ln.Addr().String()), zap.String("metrics_addr", o.metricsAddr),
		zap.Int("max_conns", o.cfg.MaxConns),
		zap.String("data", o.cfg.DataDir), zap.String("out", o.cfg.OutDir), zap.Duration("window", o.cfg.Window),
		zap.Bool("auth", o.cfg.Token != ""), zap.Bool("tls", o.tls != nil))

	status := 0
	select {
	case s := <-sig:
		log.Info("stopping", zap.String("signal", s.String()))
	case err := <-serveErr:
		log.Error("ingest server failed", zap.Error(err))
		status = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("stopping ingest server", zap.Error(err))
	}
	if err := c.Shutdown(ctx); err != nil {
		log.Error("final flush failed; the WAL keeps the data for the next start", zap.Error(err))
		status = 1
	}
	if ops != nil {
		ops.Shutdown(ctx)
	}
	log.Info("stopped")
	return status
}

// listen opens the ingest listener and, with --metrics-addr, the ops one,
// each under its connection cap, and applies the auth policy to the
// address actually bound. The cap sits under TLS and the handler: a
// connection over it costs no descriptor, no handshake and no goroutine.
func listen(o *options, log *zap.Logger, m *connlimit.Metrics) (ln, opsLn net.Listener, err error) {
	inner, err := net.Listen("tcp", o.cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen: %w", err)
	}
	ln = connlimit.New(inner, o.cfg.MaxConns, m, "ingest")
	if err := checkAuthPolicy(o, log, ln.Addr()); err != nil {
		ln.Close()
		return nil, nil, err
	}
	if o.metricsAddr != "" {
		inner, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		opsLn = connlimit.New(inner, metricsMaxConns, m, "metrics")
	}
	return ln, opsLn, nil
}

// checkAuthPolicy refuses an open listener without a token unless
// --insecure-no-auth, and warns where the token would travel in clear.
func checkAuthPolicy(o *options, log *zap.Logger, bound net.Addr) error {
	host, _, _ := net.SplitHostPort(o.cfg.Listen)
	if o.cfg.Token == "" {
		// Judge the address actually bound, not only the name asked for:
		// whatever a name resolved to in Validate, this is what listens.
		open := true
		if a, ok := bound.(*net.TCPAddr); ok && a.IP.IsLoopback() {
			open = !collector.LoopbackOnly(host)
		}
		switch {
		case open && !o.cfg.InsecureNoAuth:
			return fmt.Errorf("--listen %s bound %s, which is not loopback-only: give --token-file, or --insecure-no-auth to accept anyone",
				o.cfg.Listen, bound)
		case open:
			log.Warn("--insecure-no-auth: accepting batches without a token from anyone who can reach --listen",
				zap.String("listen", bound.String()))
		}
		return nil
	}
	if o.cfg.TLSCert == "" && !collector.LoopbackOnly(host) {
		// Forwarders refuse to send a token this way unless told the
		// network is trusted (or TLS ends at a proxy in front).
		log.Warn("bearer token over plain HTTP on a non-loopback --listen: anyone on the path can read it; give --tls-cert and --tls-key",
			zap.String("listen", bound.String()))
	}
	return nil
}

// serve starts the ingest server on ln and, when opsLn is set, the ops
// server (metrics, health, optional pprof). serveErr reports an ingest
// server that stopped on its own.
func serve(o *options, log *zap.Logger, reg *prometheus.Registry, c *collector.Collector, ln, opsLn net.Listener) (srv, ops *http.Server, serveErr chan error) {
	if opsLn != nil {
		h := c.OpsHandler(reg)
		if o.pprof {
			h = daemon.WithPprof(h)
		}
		// Every timeout bounds how long one client holds one of the 64
		// slots. No request has a body; a response (metrics, a profile of
		// up to 2m with --pprof) may take a while to write to a slow
		// reader.
		ops = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 3 * time.Minute, IdleTimeout: 2 * time.Minute}
		go ops.Serve(opsLn)
	}
	srv = &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          collector.ServerErrorLog(log),
		TLSConfig:         o.tls,
	}
	serveErr = make(chan error, 1)
	go func() {
		if o.tls != nil {
			// The certificate is in TLSConfig already.
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	return srv, ops, serveErr
}

// fitDescriptors makes sure RLIMIT_NOFILE holds every connection the caps
// allow plus connlimit.Reserve for the WAL, checkpoints and Parquet files:
// a connection flood must find the cap, never the descriptor limit, or the
// next WAL segment or output file could not be opened.
func fitDescriptors(o *options) error {
	need := uint64(o.cfg.MaxConns) + connlimit.Reserve
	parts := fmt.Sprintf("%d for --max-conns", o.cfg.MaxConns)
	if o.metricsAddr != "" {
		need += metricsMaxConns
		parts += fmt.Sprintf(" + %d for --metrics-addr", metricsMaxConns)
	}
	if _, err := nofile.Fit(need); err != nil {
		var le *connlimit.LimitError
		if errors.As(err, &le) {
			return fmt.Errorf("--max-conns %d does not fit: %s + %d reserved for files = %d file descriptors, but the hard RLIMIT_NOFILE is %d; lower --max-conns or raise the limit (LimitNOFILE= in the systemd unit)",
				o.cfg.MaxConns, parts, connlimit.Reserve, need, le.Hard)
		}
		return err
	}
	return nil
}
