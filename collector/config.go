// Package collector is readout's collector daemon: it takes batches of
// events over HTTP, makes them durable in a write-ahead log before it
// acknowledges them, drops duplicates, aggregates inference events into
// event-time windows and commits the windows as Parquet files, exactly once
// across crashes.
package collector

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/readout-dev/readout/internal/batchhttp"
	"github.com/readout-dev/readout/internal/netpolicy"
)

// Config is the collector's configuration. Zero values of optional fields
// mean their defaults (see Default).
type Config struct {
	Listen          string        // HOST:PORT of the ingest endpoint; used for the auth policy
	DataDir         string        // WAL, checkpoint, quarantine
	OutDir          string        // Parquet tables
	Window          time.Duration // tumbling window width
	AllowedLateness time.Duration // a window closes at its end plus this (wall clock)
	FlushInterval   time.Duration // how often closable windows are written
	MaxGroups       int           // groups per window before keys fold into overflow keys
	MaxModels       int           // models per window before they fold into "__other__"
	MaxWindows      int           // open windows in all before late events take their arrival time
	MaxTotalGroups  int           // groups across open windows before keys fold into overflow keys
	MaxEmitters     int           // emitters tracked in all before new ones go untracked
	// MaxEmittersPerForwarder: emitters first seen through one forwarder
	// before its new ones go untracked.
	MaxEmittersPerForwarder int
	MaxBodyBytes            int64         // request body limit, on the wire and decompressed
	DedupeTTL               time.Duration // emitters silent this long (collector running time) are forgotten
	QueueSize               int           // batches waiting for the ingest loop before 503
	MaxInflight             int           // requests read or waiting at once before 503
	Token                   string        // bearer token; empty means no authentication
	InsecureNoAuth          bool          // allow no token on a non-loopback listener
	TLSCert                 string        // PEM certificate chain file; with TLSKey, serve HTTPS
	TLSKey                  string        // PEM private key file

	// MaxConns is how many connections the ingest listener holds open
	// before it stops accepting; the rest wait in the kernel's backlog.
	MaxConns int

	// CrashPoint names a fault-injection point at which the process kills
	// itself with SIGKILL (tests only; see crash.go). CrashAfter is how many
	// times the point must be reached first.
	CrashPoint string
	CrashAfter int

	// Now is the wall clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Defaults for the optional fields.
const (
	DefaultWindow          = time.Minute
	DefaultAllowedLateness = 2 * time.Minute
	DefaultFlushInterval   = time.Second
	DefaultMaxGroups       = 100000
	DefaultMaxModels       = 1000
	DefaultMaxWindows      = 1440 // a day of one-minute windows
	DefaultMaxTotalGroups  = 1000000
	DefaultMaxEmitters     = 100000
	DefaultMaxPerForwarder = 10000
	DefaultMaxBodyBytes    = batchhttp.DefaultMaxBodyBytes
	DefaultDedupeTTL       = 24 * time.Hour
	DefaultQueueSize       = 64
	DefaultMaxInflight     = 32
	DefaultMaxConns        = 1024
)

// DefaultConfig returns the defaults documented in cmd/collector --help,
// without the fields that have none (Listen, DataDir, OutDir). A field's
// zero value means zero, not "the default": start from this, as the
// forwarder's Config does, so that --allowed-lateness 0 means no lateness.
func DefaultConfig() Config {
	return Config{
		Window:                  DefaultWindow,
		AllowedLateness:         DefaultAllowedLateness,
		FlushInterval:           DefaultFlushInterval,
		MaxGroups:               DefaultMaxGroups,
		MaxModels:               DefaultMaxModels,
		MaxWindows:              DefaultMaxWindows,
		MaxTotalGroups:          DefaultMaxTotalGroups,
		MaxEmitters:             DefaultMaxEmitters,
		MaxEmittersPerForwarder: DefaultMaxPerForwarder,
		MaxBodyBytes:            DefaultMaxBodyBytes,
		DedupeTTL:               DefaultDedupeTTL,
		QueueSize:               DefaultQueueSize,
		MaxInflight:             DefaultMaxInflight,
		MaxConns:                DefaultMaxConns,
	}
}

// Validate reports the first configuration error, naming fields by their
// Go names (cmd/collector turns them into its flags' names). It
// enforces the security default: a bearer token is required unless the
// listener is loopback-only or InsecureNoAuth is set.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("DataDir is required")
	case c.OutDir == "":
		return errors.New("OutDir is required")
	case c.Window < time.Second || c.Window%time.Second != 0:
		return fmt.Errorf("Window %v must be a whole number of seconds, at least 1s", c.Window)
	case time.Hour%c.Window != 0 && c.Window%time.Hour != 0:
		return fmt.Errorf("Window %v must divide an hour (or be whole hours) so windows align with partitions", c.Window)
	case c.Window > 24*time.Hour:
		return fmt.Errorf("Window %v exceeds 24h", c.Window)
	case c.AllowedLateness < 0:
		return fmt.Errorf("AllowedLateness %v is negative", c.AllowedLateness)
	case c.FlushInterval <= 0:
		return fmt.Errorf("FlushInterval %v must be positive", c.FlushInterval)
	case c.MaxGroups < 1:
		return fmt.Errorf("MaxGroups %d must be positive", c.MaxGroups)
	case c.MaxModels < 1:
		return fmt.Errorf("MaxModels %d must be positive", c.MaxModels)
	case c.MaxWindows < 2:
		return fmt.Errorf("MaxWindows %d must be at least 2", c.MaxWindows)
	case c.MaxTotalGroups < c.MaxGroups:
		return fmt.Errorf("MaxTotalGroups %d is below MaxGroups %d", c.MaxTotalGroups, c.MaxGroups)
	case c.MaxEmitters < 1 || c.MaxEmittersPerForwarder < 1:
		return fmt.Errorf("MaxEmitters %d and MaxEmittersPerForwarder %d must be positive", c.MaxEmitters, c.MaxEmittersPerForwarder)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("MaxBodyBytes %d is below 1024", c.MaxBodyBytes)
	case c.DedupeTTL <= 0:
		return fmt.Errorf("DedupeTTL %v must be positive", c.DedupeTTL)
	case c.QueueSize < 1 || c.MaxInflight < 1:
		return fmt.Errorf("QueueSize %d and MaxInflight %d must be positive", c.QueueSize, c.MaxInflight)
	case c.MaxConns < 1:
		return fmt.Errorf("MaxConns %d must be at least 1", c.MaxConns)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("TLSCert and TLSKey go together: give both or neither")
	}
	if c.Listen != "" {
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return fmt.Errorf("Listen %q: %v", c.Listen, err)
		}
		if c.Token == "" && !c.InsecureNoAuth && !LoopbackOnly(host) {
			return fmt.Errorf("Listen %s is not loopback-only: give a Token, or InsecureNoAuth to accept anyone", c.Listen)
		}
	}
	return nil
}

// LoopbackOnly reports whether a listen host accepts loopback connections
// only: see netpolicy.LoopbackOnly, the one definition, which the forwarder
// uses for its collector URL too.
func LoopbackOnly(host string) bool { return netpolicy.LoopbackOnly(host) }
