package forwarding

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Sink is a TCP server that counts newline-terminated lines, the receiving
// end of a log shipper under test. It does nothing else, so that its cost
// stays out of the measurement.
type Sink struct {
	ln    net.Listener
	lines atomic.Int64
	bytes atomic.Int64
	want  int64
	done  chan struct{}
	at    time.Time // when the count first reached want
	once  sync.Once
	first []byte // the start of the first line received, for a sanity check
	mu    sync.Mutex
	wg    sync.WaitGroup
}

// NewSink listens on a free loopback port. done fires when want lines have
// arrived.
func NewSink(want int64) (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, want: want, done: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Lines is how many lines have arrived so far.
func (s *Sink) Lines() int64 { return s.lines.Load() }

// Bytes is how many bytes have arrived so far.
func (s *Sink) Bytes() int64 { return s.bytes.Load() }

// Done is closed once want lines have arrived.
func (s *Sink) Done() <-chan struct{} { return s.done }

// ReachedAt is when the count reached want; zero before Done.
func (s *Sink) ReachedAt() time.Time {
	select {
	case <-s.done:
		return s.at
	default:
		return time.Time{}
	}
}

// First returns up to the first 200 bytes the sink received.
func (s *Sink) First() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.first...)
}

// Close stops the listener and every connection, and waits for them.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		s.wg.Add(1)
		go s.read(c)
	}
}

func (s *Sink) read(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.note(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (s *Sink) note(p []byte) {
	s.mu.Lock()
	if len(s.first) < 200 {
		s.first = append(s.first, p[:min(len(p), 200-len(s.first))]...)
	}
	s.mu.Unlock()
	s.bytes.Add(int64(len(p)))
	if s.lines.Add(int64(bytes.Count(p, []byte{'\n'}))) >= s.want {
		s.once.Do(func() {
			s.at = time.Now()
			close(s.done)
		})
	}
}
