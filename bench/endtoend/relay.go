package endtoend

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

// byteRelay sits between the forwarder and the collector and counts the
// bytes each way, headers included, without parsing them: io.Copy between
// two TCP connections is spliced by the kernel, so the relay costs the
// pipeline it measures almost no CPU. (An HTTP-parsing relay that decoded
// every batch cost about 1 CPU second per million events, on the same two
// CPUs.) Counts are final once Close has returned.
type byteRelay struct {
	ln       net.Listener
	upstream string
	Up, Down atomic.Int64 // forwarder to collector, and back

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

func newByteRelay(upstream string) (*byteRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &byteRelay{ln: ln, upstream: upstream}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the host:port the forwarder should ship to.
func (r *byteRelay) Addr() string { return r.ln.Addr().String() }

func (r *byteRelay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up, err := net.Dial("tcp", r.upstream)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, up) {
			return
		}
		r.wg.Add(2)
		go r.pipe(up, c, &r.Up)
		go r.pipe(c, up, &r.Down)
	}
}

func (r *byteRelay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	r.conns = append(r.conns, cs...)
	return true
}

// pipe copies until either side ends, then ends both directions.
func (r *byteRelay) pipe(dst, src net.Conn, n *atomic.Int64) {
	defer r.wg.Done()
	copied, _ := io.Copy(dst, src)
	n.Add(copied)
	dst.Close()
	src.Close()
}

// Close stops the relay and every connection, and waits for the copies.
func (r *byteRelay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// acceptedWatch polls the collector's accepted-events counter until it
// reaches want, and records when it first saw it. The counter moves right
// after a group's WAL fsync, so that moment is when the last event was
// durable in the collector, give or take one poll. Polls are sparse until
// 90% of want (each scrape costs the collector a little CPU) and then
// frequent, so the end is timed within about finePoll.
type acceptedWatch struct {
	done chan struct{}
	at   time.Time // when want was seen; set before done closes
	last atomic.Int64
}

const (
	coarsePoll = 200 * time.Millisecond
	finePoll   = 10 * time.Millisecond
)

func watchAccepted(ctx context.Context, metricsAddr string, want int64) *acceptedWatch {
	w := &acceptedWatch{done: make(chan struct{})}
	go func() {
		for {
			if v, ok := pipeline.Metric(metricsAddr, acceptedMetric); ok {
				n := int64(v)
				w.last.Store(n)
				if n >= want {
					w.at = time.Now()
					close(w.done)
					return
				}
			}
			d := coarsePoll
			if w.last.Load()*10 >= want*9 {
				d = finePoll
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
	}()
	return w
}

// Events is the last count seen.
func (w *acceptedWatch) Events() int64 { return w.last.Load() }

// Done closes once the collector has accepted want events.
func (w *acceptedWatch) Done() <-chan struct{} { return w.done }

// ReachedAt is when the watch saw want; valid after Done.
func (w *acceptedWatch) ReachedAt() time.Time { return w.at }
