// Command forwarder is the node-local daemon that takes events from
// emitters on a Unix socket, keeps them in a durable spool, and ships them
// to the collector. See forwarder.Config for what each flag sets.
package main

import (
	"context"
	"crypto/x509"
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

	"github.com/readout-dev/readout/forwarder"
	"github.com/readout-dev/readout/forwarder/report"
	"github.com/readout-dev/readout/forwarder/ship"
	"github.com/readout-dev/readout/internal/daemon"
	"github.com/readout-dev/readout/wire"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the parsed flags that are not plain Config fields.
type options struct {
	cfg         forwarder.Config
	socketMode  string
	allowUIDs   string
	tokenFile   string
	caFile      string
	rootCAs     *x509.CertPool // from --ca-file; nil means the system roots
	metricsAddr string
	pprof       bool
	logLevel    string

	// report is the JSON report server's config; nil without --report-addr.
	report          *report.Config
	reportTokenFile string
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{cfg: forwarder.DefaultConfig()}
	c := &o.cfg
	fs := flag.NewFlagSet("forwarder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: forwarder --socket PATH --spool DIR --collector URL [flags]\n\n"+
			"Reads Cap'n Proto events from emitters on a Unix socket, acknowledges them once they are\n"+
			"durable in the spool, and ships them in batches to the collector.\n\n"+
			"With --report-addr it also takes JSON reports over HTTP (POST /v1/instance-state,\n"+
			"/v1/setup-run, /v1/download-metrics; docs/report-ingest.md), each answered 200 once its\n"+
			"event is durable in the same spool; 100 requests/s (burst 100) over the whole address.\n"+
			"A non-loopback --report-addr needs --report-token-file or --report-insecure-no-auth.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Socket, "socket", "", "Unix socket `path` emitters connect to (required)")
	fs.StringVar(&o.socketMode, "socket-mode", "0660", "permissions of the socket file, octal")
	fs.StringVar(&o.allowUIDs, "allow-uid", "", "comma-separated peer `uids` allowed to connect (SO_PEERCRED); empty allows any")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "open emitter connections at most; more are accepted and closed")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a connection that sends no bytes for this long")
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", c.FrameTimeout, "close a connection whose frame is not complete this long after its first byte")
	fs.IntVar(&c.MaxMessage, "max-message-size", c.MaxMessage, fmt.Sprintf("largest event message in `bytes`, framing included; larger is malformed and closes its connection. At most %d, the collector's per-event limit", wire.MaxMessageSize))
	fs.IntVar(&c.BatchMaxEvents, "batch-max-events", c.BatchMaxEvents, "seal a batch at this many messages")
	fs.IntVar(&c.BatchMaxBytes, "batch-max-bytes", c.BatchMaxBytes, "seal a batch at this many `bytes` of messages")
	fs.DurationVar(&c.BatchLinger, "batch-linger", c.BatchLinger, "seal a batch this long after its first message (also bounds ack latency)")
	fs.StringVar(&c.Spool, "spool", "", "spool `directory` (required); created if missing")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "cap on spool segment `bytes`; when reached, reads and acks pause until batches ship")
	fs.Int64Var(&c.SegmentBytes, "spool-segment-bytes", 0, "rotate spool segments at this many `bytes` (0: 64 MiB, at most a quarter of --spool-max-bytes)")
	fs.StringVar(&c.SpoolCompress, "spool-compression", c.SpoolCompress, "how batches are stored in the spool: none, or s2 (fast compression: fewer bytes on disk for much more CPU)")
	fs.StringVar(&c.Collector, "collector", "", "collector base `URL` (required); batches go to URL/v1/batches")
	fs.StringVar(&o.tokenFile, "token-file", "", "`file` holding the collector's bearer token (whitespace trimmed; must not be empty)")
	fs.BoolVar(&c.InsecurePlaintextToken, "insecure-plaintext-token", false, "allow sending the --token-file token over plain http:// to a --collector that is not loopback; "+
		"without it the forwarder refuses to start, since anyone on the path could read the token. Only for a trusted network; warns at start")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM `file` of CA certificates trusted for an https:// --collector, instead of the system roots")
	fs.StringVar(&c.Compress, "compress", c.Compress, "request body compression: auto (zstd unless the collector is on loopback), zstd or none")
	fs.IntVar(&c.ShipConcurrency, "ship-concurrency", c.ShipConcurrency, "batches in flight to the collector at once")
	fs.DurationVar(&c.ShipTimeout, "ship-timeout", c.ShipTimeout, "timeout of one batch request")
	fs.DurationVar(&c.RetryMin, "retry-min", c.RetryMin, "first retry backoff (doubles, with jitter); a collector's Retry-After on 503 or 429 (at most 60s) waits longer")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "longest retry backoff")
	fs.DurationVar(&c.AuthRetry, "auth-retry", c.AuthRetry, "wait before retrying after the collector answers 401 or 403")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM/SIGINT, keep shipping for at most this long; the rest stays spooled")
	fs.DurationVar(&c.DrainGrace, "drain-grace", c.DrainGrace, "on SIGTERM/SIGINT, keep reading open connections for this long")
	rc := report.DefaultConfig()
	fs.StringVar(&rc.Addr, "report-addr", "", "`host:port` serving the JSON report endpoints (POST /v1/instance-state, /v1/setup-run, /v1/download-metrics); empty serves none")
	fs.StringVar(&o.reportTokenFile, "report-token-file", "", "`file` holding the bearer token clients of --report-addr must send (whitespace trimmed; must not be empty)")
	fs.BoolVar(&rc.InsecureNoAuth, "report-insecure-no-auth", false, "accept reports without a token on a --report-addr that is not loopback; "+
		"without it the forwarder refuses to start. Only for a trusted network; warns at start")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "`host:port` serving /metrics, /healthz and /readyz; empty serves none")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve Go's profiler at /debug/pprof/ on --metrics-addr")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	mode, err := strconv.ParseUint(o.socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return nil, fmt.Errorf("--socket-mode %q: want octal permission bits such as 0660", o.socketMode)
	}
	c.SocketMode = os.FileMode(mode)
	if o.allowUIDs != "" {
		for _, s := range strings.Split(o.allowUIDs, ",") {
			uid, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--allow-uid %q: want comma-separated numeric uids", o.allowUIDs)
			}
			c.AllowUIDs = append(c.AllowUIDs, uint32(uid))
		}
	}
	if c.Token, err = daemon.ReadTokenFile("--token-file", o.tokenFile); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch {
	case rc.Addr != "":
		if rc.Token, err = daemon.ReadTokenFile("--report-token-file", o.reportTokenFile); err != nil {
			return nil, err
		}
		if err := rc.Validate(); err != nil {
			return nil, err
		}
		o.report = &rc
	case o.reportTokenFile != "":
		return nil, errors.New("--report-token-file needs --report-addr")
	case rc.InsecureNoAuth:
		return nil, errors.New("--report-insecure-no-auth needs --report-addr")
	}
	if o.caFile != "" {
		if !strings.HasPrefix(strings.ToLower(c.Collector), "https://") {
			return nil, errors.New("--ca-file needs an https:// --collector")
		}
		if o.rootCAs, err = ship.LoadCAFile(o.caFile); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "forwarder: %v\n", err)
		return 2
	}
	log, err := daemon.NewLogger(o.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "forwarder: %v\n", err)
		return 2
	}
	defer log.Sync()
	// Take SIGTERM before the socket or /readyz exist, so an early signal
	// means a clean drain rather than the default kill.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	daemon.WarnIfWorldReadable(log, "--token-file", o.tokenFile)
	daemon.WarnIfWorldReadable(log, "--report-token-file", o.reportTokenFile)
	o.cfg.RootCAs = o.rootCAs
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var mln net.Listener
	if o.metricsAddr != "" {
		if mln, err = net.Listen("tcp", o.metricsAddr); err != nil {
			fmt.Fprintf(stderr, "forwarder: --metrics-addr: %v\n", err)
			return 2
		}
	}
	fwd, err := forwarder.New(o.cfg, log, reg)
	if err != nil {
		if mln != nil {
			mln.Close()
		}
		fmt.Fprintf(stderr, "forwarder: %v\n", err)
		return 2
	}
	// The report server takes events into the forwarder's spool, so it
	// starts after the forwarder and stops before it drains.
	var rep *report.Server
	if o.report != nil {
		if rep, err = report.New(*o.report, fwd, log, reg); err != nil {
			fwd.Shutdown(context.Background())
			if mln != nil {
				mln.Close()
			}
			fmt.Fprintf(stderr, "forwarder: %v\n", err)
			return 2
		}
	}
	var srv *http.Server
	if mln != nil {
		h := fwd.Handler(reg)
		if o.pprof {
			h = daemon.WithPprof(h)
		}
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", zap.Error(err))
			}
		}()
	}
	fwd.Start()
	if rep != nil {
		rep.Start()
	}
	<-ctx.Done()
	if rep != nil {
		// Requests in flight finish and the report emitter's closed
		// message is spooled before the forwarder stops taking events.
		rctx, cancel := context.WithTimeout(context.Background(), o.cfg.DrainTimeout)
		rep.Shutdown(rctx) // logs its own failure; the drain goes on
		cancel()
	}
	// The drain is bounded by --drain-timeout; Shutdown waits for it.
	err = fwd.Shutdown(context.Background())
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	if err != nil {
		log.Error("forwarder failed", zap.Error(err))
		return 1
	}
	return 0
}
