package emitter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults for the zero values of Options.
const (
	DefaultSocketPath        = "/run/readout/forwarder.sock"
	DefaultBufferSize        = 64
	DefaultReconnectInterval = 10 * time.Second
	// DefaultReplayRingSize holds about one second of events at 100k/s.
	DefaultReplayRingSize = 131072
)

// maxSocketPath is the room in sockaddr_un.sun_path, NUL excluded; a longer
// path can never be dialled, so it is a configuration error, not a retry.
const maxSocketPath = 107

// Options configures an Emitter. Every zero value means the default.
type Options struct {
	// SocketPath is the forwarder's Unix socket. It need not exist yet: the
	// emitter keeps trying to connect.
	SocketPath string
	// BufferSize is the number of events that may wait for the writer; Emit
	// drops when it is full. Default 64 (about 300 bytes each, allocated
	// once).
	BufferSize int
	// ReconnectInterval is how long the writer waits between connection
	// attempts while disconnected. Default 10 s.
	ReconnectInterval time.Duration
	// ReplayRingSize is how many written but unacknowledged events the
	// writer keeps for replay after a reconnect. When it is full the writer
	// stops writing until acknowledgements arrive. Default 131072, about one
	// second at 100k events/s; it holds encoded events (typically 200 to 300
	// bytes each), so a forwarder that stops acknowledging costs up to about
	// 40 MB at the default.
	ReplayRingSize int
	// EmitterID names this emitter instance on the wire. Default: a fresh
	// random UUID.
	EmitterID [16]byte
	// Logger receives connection events (never per-event logs). Default:
	// no logging.
	Logger *zap.Logger
	// Registerer, when set, receives the readout_emitter_* metrics.
	Registerer prometheus.Registerer
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.BufferSize < 0 {
		errs = append(errs, fmt.Errorf("buffer size %d is negative", o.BufferSize))
	}
	if o.ReconnectInterval < 0 {
		errs = append(errs, fmt.Errorf("reconnect interval %v is negative", o.ReconnectInterval))
	}
	if o.ReplayRingSize < 0 {
		errs = append(errs, fmt.Errorf("replay ring size %d is negative", o.ReplayRingSize))
	}
	if len(o.SocketPath) > maxSocketPath {
		errs = append(errs, fmt.Errorf("socket path is %d bytes, the limit is %d", len(o.SocketPath), maxSocketPath))
	}
	if strings.IndexByte(o.SocketPath, 0) >= 0 {
		errs = append(errs, errors.New("socket path contains a NUL byte"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("emitter: invalid options: %w", err)
	}
	if o.SocketPath == "" {
		o.SocketPath = DefaultSocketPath
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.ReconnectInterval == 0 {
		o.ReconnectInterval = DefaultReconnectInterval
	}
	if o.ReplayRingSize == 0 {
		o.ReplayRingSize = DefaultReplayRingSize
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o, nil
}
