package emitter

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/readout-dev/readout/wire"
)

// listener is the emitter tests' one stand-in for the forwarder: it accepts
// emitter connections, decodes every frame with the reference decoder, and
// acknowledges (unless silent) after every read. It listens either on a
// real Unix socket (listen), for the tests of what the socket does, or on
// in-memory pipes that the emitter reaches through Options.Dial
// (listenPipe), for the others.
type listener struct {
	t    testing.TB
	ln   net.Listener
	fast bool // benchmarks: only walk frames, read the seq, and ack
	// dial connects to this listener; set for listenPipe's.
	dial func(ctx context.Context) (net.Conn, error)

	mu     sync.Mutex
	silent bool
	// stall is how many of the next connections are held without ever
	// being read, as a forwarder that accepted and then stopped reading.
	stall int
	// dropClosing is how many closing messages to answer by hanging up
	// without an acknowledgement.
	dropClosing int
	accepted    int // connections so far
	// rejected counts frames refused by the forwarder's strict decoder
	// (wire.DecodeEvent: invalid UTF-8, say); like the forwarder, the
	// listener hangs up on them.
	rejected int
	quit     chan struct{} // closed by stop
	events   []wire.Event  // in arrival order, across connections
	closed   []wire.Event  // closing messages
	// record keeps every byte read, across connections, in raw.
	record bool
	raw    []byte
	conns  map[net.Conn]uint64
	wg     sync.WaitGroup
}

func socketPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "fwd.sock")
}

// listen starts a listener on a real Unix socket at path, which the
// emitter dials by Options.SocketPath.
func listen(t testing.TB, path string, silent bool) *listener {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	return serve(t, ln, silent)
}

// listenPipe starts a listener without a socket: an emitter given
// Options{Dial: l.dial} reaches it over in-memory pipes (net.Pipe, which
// has no buffer: a write waits until the listener reads it).
func listenPipe(t testing.TB, silent bool) *listener {
	t.Helper()
	p := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	l := serve(t, p, silent)
	l.dial = p.dial
	return l
}

func serve(t testing.TB, ln net.Listener, silent bool) *listener {
	l := &listener{t: t, ln: ln, silent: silent, conns: map[net.Conn]uint64{}, quit: make(chan struct{})}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(l.stop)
	return l
}

// pipeListener is a net.Listener of in-memory connections: dial hands one
// end of a new pipe to Accept and returns the other.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// errRefused is what dialling a stopped pipeListener returns, as dialling a
// socket nobody listens on fails.
var errRefused = errors.New("test forwarder: connection refused")

func (p *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-p.done:
		return nil, errRefused
	default:
	}
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		_ = client.Close()
		_ = server.Close()
		return nil, errRefused
	case <-ctx.Done():
		_ = client.Close()
		_ = server.Close()
		return nil, ctx.Err()
	}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "test-forwarder" }

func (l *listener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		select {
		case <-l.quit:
			// stop has closed the connections it knew: this one came
			// too late to be among them.
			l.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		l.conns[c] = 0
		l.accepted++
		stall := l.stall > 0
		if stall {
			l.stall--
		}
		l.mu.Unlock()
		l.wg.Add(1)
		if stall {
			go func() {
				defer l.wg.Done()
				<-l.quit
			}()
			continue
		}
		go l.serve(c)
	}
}

// stop kills the listener and every connection, as a crash would, and
// waits for its goroutines. The socket file goes with the listener.
func (l *listener) stop() {
	_ = l.ln.Close()
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *listener) serve(c net.Conn) {
	defer l.wg.Done()
	defer c.Close()
	buf := make([]byte, 1<<20)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.record {
			l.raw = append(l.raw, buf[n:n+m]...)
		}
		l.mu.Unlock()
		n += m
		start := 0
		var last uint64
		closing := false
		for {
			size, err := wire.FrameSize(buf[start:n], wire.DefaultMaxMessageSize)
			if errors.Is(err, wire.ErrShortFrame) || (err == nil && size > n-start) {
				break
			}
			if err != nil {
				l.t.Errorf("listener: bad frame: %v", err)
				return
			}
			frame := buf[start : start+size]
			start += size
			if l.fast {
				// The root struct's data starts at byte 16: seq at +8, the
				// union discriminant at +24.
				last = binary.LittleEndian.Uint64(frame[24:])
				if wire.Kind(binary.LittleEndian.Uint16(frame[40:])) == wire.KindClosed {
					closing = true
				}
				continue
			}
			ev, err := wire.DecodeEventCapnp(frame)
			if err != nil {
				l.t.Errorf("listener: decode: %v", err)
				return
			}
			var strict wire.Event
			if err := wire.DecodeEvent(frame, &strict); err != nil {
				l.mu.Lock()
				l.rejected++
				l.mu.Unlock()
				return
			}
			last = ev.Seq
			l.mu.Lock()
			if ev.Kind == wire.KindClosed {
				l.closed = append(l.closed, ev)
				closing = true
				if l.dropClosing > 0 {
					l.dropClosing--
					l.mu.Unlock()
					return
				}
			} else {
				l.events = append(l.events, ev)
			}
			l.mu.Unlock()
		}
		n = copy(buf, buf[start:n])
		l.mu.Lock()
		if last > l.conns[c] {
			l.conns[c] = last
		}
		silent := l.silent
		l.mu.Unlock()
		if !silent && (last > 0 || closing) {
			if err := l.ack(c, last, closing); err != nil {
				return
			}
		}
	}
}

func (l *listener) ack(c net.Conn, seq uint64, closed bool) error {
	if l.fast {
		// The benchmarks' listener uses the allocation-free encoder:
		// go-capnp's would put its garbage in the emitter's allocation
		// counts.
		var b [32]byte
		_, err := c.Write(wire.AppendAck(b[:0], wire.Ack{DurableSeq: seq, Closed: closed}))
		return err
	}
	b, err := wire.EncodeAck(wire.Ack{DurableSeq: seq, Closed: closed})
	if err != nil {
		l.t.Errorf("listener: encode ack: %v", err)
		return err
	}
	_, err = c.Write(b)
	return err
}

// setSilent switches acknowledgements off or on; switching on acknowledges
// everything received so far at once.
func (l *listener) setSilent(silent bool) {
	l.mu.Lock()
	l.silent = silent
	conns := make(map[net.Conn]uint64, len(l.conns))
	for c, s := range l.conns {
		conns[c] = s
	}
	l.mu.Unlock()
	if !silent {
		for c, s := range conns {
			_ = l.ack(c, s, false)
		}
	}
}

// rawBytes returns a copy of the bytes read while record was set.
func (l *listener) rawBytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.raw...)
}

// received returns copies of what arrived so far.
func (l *listener) received() (events, closed []wire.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wire.Event(nil), l.events...), append([]wire.Event(nil), l.closed...)
}

// hangUp closes every connection cleanly, as the forwarder does with one
// that stayed idle too long; the listener keeps accepting.
func (l *listener) hangUp() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
	}
}

// counts returns the connections accepted and the frames rejected so far.
func (l *listener) counts() (accepted, rejected int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted, l.rejected
}

// set changes the listener's settings under its lock.
func (l *listener) set(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}
