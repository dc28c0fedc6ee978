// Package report is the forwarder's HTTP ingest for processes that already
// report JSON (Replicate's Director and pget): POST /v1/instance-state,
// /v1/setup-run and /v1/download-metrics. Each accepted body becomes one
// event of the forwarder's own emitter identity and goes through the same
// validation, spool and acknowledgement as an emitter's events; the answer
// is 200 only once the event is fsynced. See docs/report-ingest.md.
package report

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/readout-dev/readout/internal/netpolicy"
)

// The contract's limits (design.md, "HTTP ingest on the node").
const (
	// DefaultRate and DefaultBurst are the token bucket over the whole
	// address: 100 requests a second, 100 at once.
	DefaultRate  = 100
	DefaultBurst = 100
	// MaxBodyBytes is the largest request body; a larger one is a 413.
	MaxBodyBytes = 1 << 20
)

// Config is the report server's configuration. Zero values are not
// defaults: start from DefaultConfig.
type Config struct {
	Addr string // HOST:PORT to listen on
	// Token is the bearer token clients must send; empty accepts any
	// client, which Validate allows only on a loopback-only Addr unless
	// InsecureNoAuth.
	Token          string
	InsecureNoAuth bool

	Rate     float64 // requests per second over the whole address
	Burst    int     // token bucket size
	MaxConns int     // connections held open; more wait in the listen backlog
	// WaitTimeout bounds how long a request waits for its event to be
	// fsynced before it is answered 503.
	WaitTimeout time.Duration
}

// DefaultConfig returns the contract's limits and the documented defaults.
func DefaultConfig() Config {
	return Config{
		Rate:        DefaultRate,
		Burst:       DefaultBurst,
		MaxConns:    256,
		WaitTimeout: 30 * time.Second,
	}
}

// Validate reports the first configuration error, naming the forwarder's
// flags. Like the collector's --listen, an Addr that is not loopback-only
// (netpolicy.LoopbackOnly: wildcard addresses and host names other than
// "localhost" never are) needs a Token or InsecureNoAuth.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("--report-addr is required")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--report-addr %q: want HOST:PORT (%v)", c.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--report-addr %q: port %q is not a number from 0 to 65535", c.Addr, port)
	}
	if c.Token == "" && !c.InsecureNoAuth && !netpolicy.LoopbackOnly(host) {
		return fmt.Errorf("--report-addr %s is not loopback-only: give --report-token-file, or --report-insecure-no-auth to accept reports from anyone who can reach it",
			c.Addr)
	}
	switch {
	case c.Rate <= 0:
		return fmt.Errorf("report rate %v must be positive", c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("report burst %d must be at least 1", c.Burst)
	case c.MaxConns < 1:
		return fmt.Errorf("report max conns %d must be at least 1", c.MaxConns)
	case c.WaitTimeout <= 0:
		return fmt.Errorf("report wait timeout %v must be positive", c.WaitTimeout)
	}
	return nil
}
