package forwarding

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/readout-dev/readout/bench"
	"github.com/readout-dev/readout/wire"
)

// Payloads are the same events encoded for each peer, one byte stream per
// connection: connection i carries every event of emitter i, in seq order.
type Payloads struct {
	Events  int
	PerConn []uint64 // events on each connection: its emitter's last seq
	Capnp   [][]byte // stream-framed Cap'n Proto Event messages
	JSON    [][]byte // JSON lines
}

// Bytes sums the lengths of streams.
func Bytes(streams [][]byte) int64 {
	var n int64
	for _, s := range streams {
		n += int64(len(s))
	}
	return n
}

// refEvery is how often BuildPayloads checks a frame against the reference.
const refEvery = 997

// BuildPayloads generates n events over conns emitters (seed gives the same
// events every run) and encodes each one both ways. The Cap'n Proto frames
// come from the emitter's encoder, wire.AppendEvent, which is documented to
// write the same bytes as the reference go-capnp encoder; every refEvery-th
// frame is checked against wire.EncodeEventCapnp. (The reference costs about
// 9 µs an event: most of a million-event run's set-up time.)
func BuildPayloads(n, conns int, seed uint64) (*Payloads, error) {
	if conns <= 0 || n < conns {
		return nil, fmt.Errorf("build payloads: need at least one event per connection, got %d events for %d", n, conns)
	}
	g := bench.NewGenerator(bench.Emitters(conns, seed), seed, time.Now())
	p := &Payloads{Events: n, PerConn: make([]uint64, conns), Capnp: make([][]byte, conns), JSON: make([][]byte, conns)}
	var ev wire.Event
	for i := range n {
		c := g.Next(&ev)
		if i < conns {
			// Size each stream once from its first event, with headroom,
			// so that a million events are not copied by append doubling.
			per := uint64(n/conns + 1)
			p.Capnp[c] = make([]byte, 0, per*uint64(wire.EncodedSize(&ev))*5/4)
			line, err := bench.AppendJSONLine(nil, &ev)
			if err != nil {
				return nil, err
			}
			p.JSON[c] = make([]byte, 0, per*uint64(len(line))*5/4)
		}
		p.PerConn[c]++
		at := len(p.Capnp[c])
		p.Capnp[c] = wire.AppendEvent(p.Capnp[c], &ev)
		if i%refEvery == 0 {
			if err := sameAsReference(p.Capnp[c][at:], &ev); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
		}
		var err error
		if p.JSON[c], err = bench.AppendJSONLine(p.JSON[c], &ev); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// sameAsReference checks that frame is what wire.EncodeEventCapnp makes of ev.
func sameAsReference(frame []byte, ev *wire.Event) error {
	ref, err := wire.EncodeEventCapnp(ev)
	if err != nil {
		return fmt.Errorf("reference encoder: %w", err)
	}
	if !bytes.Equal(frame, ref) {
		return fmt.Errorf("wire.AppendEvent and wire.EncodeEventCapnp disagree (%d and %d bytes)", len(frame), len(ref))
	}
	return nil
}

// Sender writes prepared streams over Unix socket connections.
type Sender struct {
	conns []net.Conn
	wg    sync.WaitGroup

	mu      sync.Mutex
	durable []uint64 // highest acknowledged seq per connection
	last    []uint64
	acked   chan struct{}
	ackedAt time.Time
	ackErr  error
}

// Dial opens one connection per stream to the Unix socket at path. What the
// peer writes back is read at once so that it never blocks on us. With last
// (each connection's final seq), the answers are decoded as the readout
// forwarder's acknowledgements and Acked fires when every connection's last
// seq is durable; with nil, they are thrown away.
func Dial(ctx context.Context, path string, streams int, last []uint64) (*Sender, error) {
	s := &Sender{durable: make([]uint64, streams), last: last, acked: make(chan struct{})}
	if last != nil && len(last) != streams {
		return nil, fmt.Errorf("dial: %d last seqs for %d streams", len(last), streams)
	}
	var d net.Dialer
	for i := range streams {
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dial %s: %w", path, err)
		}
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if last == nil {
				_, _ = io.Copy(io.Discard, c)
				return
			}
			if err := s.readAcks(i, c); err != nil {
				s.mu.Lock()
				if s.ackErr == nil {
					s.ackErr = err
				}
				s.mu.Unlock()
			}
		}()
	}
	return s, nil
}

// Acked is closed once every connection's last seq is acknowledged.
func (s *Sender) Acked() <-chan struct{} { return s.acked }

// AckedAt is when the last acknowledgement arrived; zero before Acked.
func (s *Sender) AckedAt() time.Time {
	select {
	case <-s.acked:
		return s.ackedAt
	default:
		return time.Time{}
	}
}

// AckErr is the first malformed acknowledgement stream seen, if any.
func (s *Sender) AckErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackErr
}

// readAcks decodes the stream-framed Ack messages on connection i.
func (s *Sender) readAcks(i int, c net.Conn) error {
	buf := make([]byte, 0, 64<<10)
	tmp := make([]byte, 32<<10)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			size, ferr := wire.FrameSize(buf, 1<<16)
			if errors.Is(ferr, wire.ErrShortFrame) || (ferr == nil && size > len(buf)) {
				break
			}
			if ferr != nil {
				return fmt.Errorf("ack stream %d: %w", i, ferr)
			}
			a, derr := wire.DecodeAck(buf[:size])
			if derr != nil {
				return fmt.Errorf("ack stream %d: %w", i, derr)
			}
			s.ack(i, a.DurableSeq)
			buf = append(buf[:0], buf[size:]...)
		}
		if err != nil {
			return nil // the connection ended; nothing more to learn
		}
	}
}

func (s *Sender) ack(i int, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.durable[i] {
		return
	}
	s.durable[i] = seq
	for j, d := range s.durable {
		if d < s.last[j] {
			return
		}
	}
	if s.ackedAt.IsZero() {
		s.ackedAt = time.Now()
		close(s.acked)
	}
}

// Send writes stream i on connection i, all at once, and returns when every
// byte is written or ctx ends.
func (s *Sender) Send(ctx context.Context, streams [][]byte) error {
	if len(streams) != len(s.conns) {
		return fmt.Errorf("send: %d streams for %d connections", len(streams), len(s.conns))
	}
	errs := make(chan error, len(streams))
	for i, c := range s.conns {
		go func() {
			_, err := c.Write(streams[i])
			errs <- err
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range s.conns {
			_ = c.SetWriteDeadline(time.Now())
		}
	})
	defer stop()
	var first error
	for range streams {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("send: %w", err)
		}
	}
	return first
}

// Close closes every connection and waits for the readers.
func (s *Sender) Close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}
