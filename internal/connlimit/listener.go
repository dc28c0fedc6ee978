// Package connlimit caps the connections a TCP server holds open, before
// any TLS handshake or authentication, and checks at start that the cap
// fits the process's file descriptor limit.
//
// A Listener stops calling Accept while its cap is reached, as
// golang.org/x/net/netutil.LimitListener does: a connection over the cap
// waits, fully connected, in the kernel's accept queue, where it costs the
// process no file descriptor, and is accepted as soon as another one
// closes. When the accept queue (the listen backlog, net.core.somaxconn)
// is full too, the kernel drops new handshakes and clients retry them.
// Accepting and closing at once instead would cost a descriptor per
// connection for a moment, and a flood would still find the process at its
// limit.
package connlimit

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the series of every Listener of one process, labelled by the
// listener's name.
type Metrics struct {
	open   *prometheus.GaugeVec
	max    *prometheus.GaugeVec
	waited *prometheus.CounterVec
}

// NewMetrics registers, with reg, the series <namespace>_<subsystem>_
// connections_open, connections_max and connections_waited_total, each
// with a "listener" label.
func NewMetrics(reg prometheus.Registerer, namespace, subsystem string) *Metrics {
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem,
			Name: "connections_open", Help: "Connections accepted and not yet closed, by listener."}, []string{"listener"}),
		max: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem,
			Name: "connections_max", Help: "Open connections a listener allows before it stops accepting."}, []string{"listener"}),
		waited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem,
			Name: "connections_waited_total", Help: "Connections that waited in the kernel's accept queue because the listener was at its cap."}, []string{"listener"}),
	}
	reg.MustRegister(m.open, m.max, m.waited)
	return m
}

// Listener is a net.Listener that holds at most a fixed number of accepted
// connections open at once. Accept, Close and Addr are safe for concurrent
// use; a connection's slot is given back when it is closed (the first
// Close; later ones change nothing).
type Listener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	n         atomic.Int64
	open      prometheus.Gauge   // nil without Metrics
	waited    prometheus.Counter // nil without Metrics
}

// probeWait is how long Accept looks for a connection already queued when
// a slot frees after it waited at the cap: such a connection was held back
// by the cap and is counted. A connection arriving within it may be
// counted too; one arriving later is not.
const probeWait = time.Millisecond

// New returns a Listener over inner that allows n open connections (n
// below 1 counts as 1). m may be nil for no metrics; name labels its series.
func New(inner net.Listener, n int, m *Metrics, name string) *Listener {
	n = max(n, 1)
	l := &Listener{Listener: inner, sem: make(chan struct{}, n), done: make(chan struct{})}
	if m != nil {
		l.open, l.waited = m.open.WithLabelValues(name), m.waited.WithLabelValues(name)
		m.max.WithLabelValues(name).Set(float64(n))
	}
	return l
}

// Open is the number of connections accepted and not yet closed.
func (l *Listener) Open() int { return int(l.n.Load()) }

// Accept waits for a free slot, then for a connection. While the cap is
// reached it does not call the inner Accept at all.
func (l *Listener) Accept() (net.Conn, error) {
	waited := false
	select {
	case l.sem <- struct{}{}:
	default:
		waited = true
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.accept(waited)
	if err != nil {
		<-l.sem
		return nil, err
	}
	l.n.Add(1)
	if l.open != nil {
		l.open.Inc()
	}
	return &conn{Conn: c, l: l}, nil
}

// deadliner is the part of *net.TCPListener (and *net.UnixListener) that
// the count of waiting connections needs.
type deadliner interface {
	SetDeadline(time.Time) error
}

// accept takes the next connection. After waiting at the cap it first
// looks for one already queued, which is the one the cap held back.
func (l *Listener) accept(waited bool) (net.Conn, error) {
	if waited {
		d, ok := l.Listener.(deadliner)
		if !ok {
			l.countWaited() // cannot tell; count the wait
			return l.Listener.Accept()
		}
		if err := d.SetDeadline(time.Now().Add(probeWait)); err == nil {
			c, err := l.Listener.Accept()
			d.SetDeadline(time.Time{})
			switch {
			case err == nil:
				l.countWaited()
				return c, nil
			case !errors.Is(err, os.ErrDeadlineExceeded):
				return nil, err
			}
		}
	}
	return l.Listener.Accept()
}

func (l *Listener) countWaited() {
	if l.waited != nil {
		l.waited.Inc()
	}
}

// Close stops Accept, including one waiting for a slot, and closes the
// inner listener. Accepted connections stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *Listener) release() {
	l.n.Add(-1)
	if l.open != nil {
		l.open.Dec()
	}
	<-l.sem
}

// conn gives its slot back on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}
