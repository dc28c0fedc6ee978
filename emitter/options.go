package emitter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/wire"
)

// Defaults for the zero values of Options.
const (
	DefaultSocketPath        = "/run/readout/forwarder.sock"
	DefaultBufferSize        = 64
	DefaultReconnectInterval = 10 * time.Second
	// DefaultReplayRingSize holds about one second of events at 100k/s.
	DefaultReplayRingSize = 131072
	// minWriteTimeout is the least default WriteTimeout.
	minWriteTimeout = 30 * time.Second
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
	// MaxMessageSize is the largest event message the forwarder accepts,
	// framing included: set it to the forwarder's --max-message-size when
	// that is lowered. Larger events are dropped with reason "too_large"
	// rather than written, since the forwarder would hang up on them on
	// every replay. Default and maximum wire.MaxMessageSize (64 KiB).
	MaxMessageSize int
	// WriteTimeout bounds one write to a connected forwarder. A forwarder
	// that accepts but stops reading would otherwise block the writer for
	// ever (the buffer fills and Emit drops as buffer_full); when a write
	// blocks that long (at least 3/4 of it: the deadline is refreshed
	// lazily), it counts as a write error, the writer hangs up,
	// reconnects after ReconnectInterval and replays the ring. Default
	// max(30 s, 3*ReconnectInterval): a write only waits for the forwarder
	// to read from the socket buffer, which a live forwarder does within
	// milliseconds even while it fsyncs its spool, so the default never
	// cuts a healthy connection.
	WriteTimeout time.Duration
	// EmitterID names this emitter instance on the wire. Default: a fresh
	// random UUID, which is what almost every caller wants. An explicit id
	// must never be reused by another instance, nor by this one after a
	// restart: seqs start again at 1, and the collector drops events whose
	// (emitter id, seq) it has already counted as duplicates, so a reused
	// id loses every event up to the old instance's last seq.
	EmitterID [16]byte
	// Logger receives connection events (never per-event logs). Default:
	// no logging.
	Logger *zap.Logger
	// Registerer, when set, receives the readout_emitter_* metrics.
	Registerer prometheus.Registerer
	// Dial, when set, makes each connection to the forwarder in place of
	// dialling SocketPath, which then only names the forwarder in logs.
	// The writer calls it from its one goroutine, with a context that ends
	// after a second; it must return a connection whose deadlines work.
	// It is a seam for tests (an in-memory pipe, a connection that fails
	// on cue). Default: dial SocketPath as a Unix socket.
	Dial func(ctx context.Context) (net.Conn, error)
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
	if o.MaxMessageSize < 0 || o.MaxMessageSize > wire.MaxMessageSize {
		// Past the shared limit the forwarder hangs up on every such event,
		// and the emitter would write it again after each reconnect.
		errs = append(errs, fmt.Errorf("max message size %d is outside 0..%d (wire.MaxMessageSize, what forwarder and collector accept)", o.MaxMessageSize, wire.MaxMessageSize))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout %v is negative", o.WriteTimeout))
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
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = wire.DefaultMaxMessageSize
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = max(minWriteTimeout, 3*o.ReconnectInterval)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Dial == nil {
		path := o.SocketPath
		o.Dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	return o, nil
}
