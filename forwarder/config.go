// Package forwarder is the node-local daemon between emitters and the
// collector: it reads stream-framed events from a Unix socket, validates
// them, seals them into batches in a durable spool (acknowledging each
// emitter once its events are fsynced), and ships the batches to the
// collector over HTTP until they are acknowledged.
package forwarder

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/readout-dev/readout/internal/batchhttp"
	"github.com/readout-dev/readout/internal/netpolicy"
	"github.com/readout-dev/readout/wire"
)

// Config is everything the forwarder needs. Zero values are not defaults:
// start from DefaultConfig.
type Config struct {
	Socket       string      // Unix socket path emitters connect to
	SocketMode   os.FileMode // permissions applied to the socket file
	AllowUIDs    []uint32    // peers allowed by SO_PEERCRED uid; empty allows all
	MaxConns     int         // open connections; more are accepted and closed
	IdleTimeout  time.Duration
	FrameTimeout time.Duration // a frame must complete this long after its first byte
	MaxMessage   int           // bytes per event message, framing included; at most wire.MaxMessageSize

	BatchMaxEvents int
	BatchMaxBytes  int
	BatchLinger    time.Duration

	Spool         string
	SpoolMaxBytes int64
	SegmentBytes  int64 // 0 means the spool's default
	// SpoolCompress is how batches are stored: "none" (the default) or
	// "s2". S2 stores 2.8 times fewer bytes (93 against 264 per event in
	// BenchmarkIngest), so the same SpoolMaxBytes rides out a longer
	// collector outage, but it was a third of the forwarder's CPU.
	SpoolCompress string

	Collector       string         // base URL; batches go to <Collector>/v1/batches
	Token           string         // bearer token; empty sends none
	RootCAs         *x509.CertPool // trusted CAs for an https collector; nil means the system roots
	Compress        string         // "auto" (zstd unless the collector is on loopback), "zstd" or "none"
	ShipConcurrency int
	ShipTimeout     time.Duration // one HTTP request
	RetryMin        time.Duration
	RetryMax        time.Duration
	AuthRetry       time.Duration // wait after 401/403

	// InsecurePlaintextToken allows sending Token over plain http:// to a
	// collector that is not loopback-only (see plaintextToken); without it
	// Validate refuses that configuration.
	InsecurePlaintextToken bool

	DrainTimeout time.Duration // SIGTERM: how long to keep shipping
	DrainGrace   time.Duration // SIGTERM: how long to keep reading open connections
}

// DefaultConfig returns the defaults documented in cmd/forwarder --help.
func DefaultConfig() Config {
	return Config{
		SocketMode:      0o660,
		MaxConns:        1024,
		IdleTimeout:     5 * time.Minute,
		FrameTimeout:    10 * time.Second,
		MaxMessage:      wire.DefaultMaxMessageSize,
		BatchMaxEvents:  8192,
		BatchMaxBytes:   1 << 20,
		BatchLinger:     100 * time.Millisecond,
		SpoolMaxBytes:   1 << 30,
		SpoolCompress:   "none",
		Compress:        "auto",
		ShipConcurrency: 8,
		ShipTimeout:     30 * time.Second,
		RetryMin:        100 * time.Millisecond,
		RetryMax:        30 * time.Second,
		AuthRetry:       30 * time.Second,
		DrainTimeout:    30 * time.Second,
		DrainGrace:      500 * time.Millisecond,
	}
}

// CollectorBodyLimit is the collector's default request body limit; batches
// stay well below it so that a 413 is an anomaly, not a routine.
const CollectorBodyLimit = batchhttp.DefaultMaxBodyBytes

// Validate reports the first configuration error, worded for one line on
// stderr.
func (c *Config) Validate() error {
	switch {
	case c.Socket == "":
		return errors.New("--socket is required")
	case c.Spool == "":
		return errors.New("--spool is required")
	case c.Collector == "":
		return errors.New("--collector is required")
	}
	u, err := url.Parse(c.Collector)
	switch {
	case (err == nil && u.User != nil) || (err != nil && strings.Contains(c.Collector, "@")):
		// The URL is logged at start and inside every delivery error, so
		// it must hold no secret; the token has a file of its own. The
		// URL itself is left out of this message for the same reason.
		return errors.New("--collector must not hold credentials (user:password@): put the bearer token in --token-file")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--collector %q: want an http:// or https:// URL with a host", c.Collector)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("--collector must be a base URL without a query or fragment (batches go to URL/v1/batches)")
	}
	if c.plaintextToken() && !c.InsecurePlaintextToken {
		return fmt.Errorf("--collector %s://%s is plain http to a host that is not loopback-only, so the bearer token would cross the network in clear text: use https:// (with --ca-file for a private CA), or --insecure-plaintext-token if that network is trusted",
			u.Scheme, u.Host)
	}
	if c.SocketMode&^os.ModePerm != 0 || c.SocketMode == 0 {
		return fmt.Errorf("--socket-mode %o: want permission bits such as 0660", uint32(c.SocketMode))
	}
	if c.SpoolCompress != "s2" && c.SpoolCompress != "none" {
		return fmt.Errorf("--spool-compression %q: want s2 or none", c.SpoolCompress)
	}
	if c.Compress != "auto" && c.Compress != "zstd" && c.Compress != "none" {
		return fmt.Errorf("--compress %q: want auto, zstd or none", c.Compress)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--idle-timeout", c.IdleTimeout}, {"--frame-timeout", c.FrameTimeout}, {"--batch-linger", c.BatchLinger},
		{"--ship-timeout", c.ShipTimeout}, {"--retry-min", c.RetryMin}, {"--retry-max", c.RetryMax},
		{"--auth-retry", c.AuthRetry}, {"--drain-timeout", c.DrainTimeout}, {"--drain-grace", c.DrainGrace},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive, got %s", d.name, d.v)
		}
	}
	switch {
	case c.RetryMax < c.RetryMin:
		return fmt.Errorf("--retry-max %s is below --retry-min %s", c.RetryMax, c.RetryMin)
	case c.MaxConns < 1:
		return fmt.Errorf("--max-conns must be at least 1, got %d", c.MaxConns)
	case c.MaxMessage < 64:
		return fmt.Errorf("--max-message-size must be at least 64 bytes, got %d", c.MaxMessage)
	case c.MaxMessage > wire.MaxMessageSize:
		// One event above the collector's limit makes it refuse the whole
		// batch, and the forwarder would quarantine everyone's events in it.
		return fmt.Errorf("--max-message-size %d exceeds the collector's per-event limit of %d bytes (wire.MaxMessageSize); one larger event would get its whole batch refused",
			c.MaxMessage, wire.MaxMessageSize)
	case c.BatchMaxEvents < 1:
		return fmt.Errorf("--batch-max-events must be at least 1, got %d", c.BatchMaxEvents)
	case c.BatchMaxBytes < c.MaxMessage:
		return fmt.Errorf("--batch-max-bytes %d is below the message size limit %d", c.BatchMaxBytes, c.MaxMessage)
	case c.BatchMaxBytes > CollectorBodyLimit/2:
		return fmt.Errorf("--batch-max-bytes %d exceeds half the collector's %d byte body limit", c.BatchMaxBytes, CollectorBodyLimit)
	case c.SpoolMaxBytes < 4*int64(c.BatchMaxBytes+1024):
		return fmt.Errorf("--spool-max-bytes %d must hold at least four full batches (%d bytes each)", c.SpoolMaxBytes, c.BatchMaxBytes)
	case c.ShipConcurrency < 1 || c.ShipConcurrency > 64:
		return fmt.Errorf("--ship-concurrency must be between 1 and 64, got %d", c.ShipConcurrency)
	}
	return nil
}

// plaintextToken reports whether the bearer token would travel in clear
// text beyond this machine: a token, an http:// collector, and a host that
// is not loopback-only as netpolicy.LoopbackOnly decides (the collector's
// rule for listening without a token). Any host name but "localhost"
// counts as off the machine.
func (c *Config) plaintextToken() bool {
	if c.Token == "" {
		return false
	}
	u, err := url.Parse(c.Collector)
	if err != nil {
		return true
	}
	return u.Scheme == "http" && !netpolicy.LoopbackOnly(u.Hostname())
}

// compressBodies decides request compression. On loopback the bytes are
// free and zstd is not: it was a fifth of the forwarder's CPU in a profile.
func (c *Config) compressBodies() bool {
	switch c.Compress {
	case "zstd":
		return true
	case "none":
		return false
	}
	u, err := url.Parse(c.Collector)
	if err != nil {
		return true
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsLoopback()
	}
	return host != "localhost"
}
