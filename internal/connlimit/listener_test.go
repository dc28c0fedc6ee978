package connlimit

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func listen(t *testing.T, n int, m *Metrics) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, n, m, "ingest")
	t.Cleanup(func() { l.Close() })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestListenerCapsHTTPServer: behind an http.Server, a listener with a cap
// of 2 holds two idle connections; a third gets no answer until one of
// them closes, is then served, and is counted as having waited.
func TestListenerCapsHTTPServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "readout", "test")
	l := listen(t, 2, m)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})}
	go srv.Serve(l)
	defer srv.Close()

	a, _ := net.Dial("tcp", l.Addr().String())
	b, _ := net.Dial("tcp", l.Addr().String())
	defer a.Close()
	defer b.Close()
	waitFor(t, "two open connections", func() bool { return l.Open() == 2 })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Fatalf("third connection answered at the cap: %d bytes, %v", n, err)
	}
	if got := l.Open(); got != 2 {
		t.Fatalf("unexpected open connections; got %d; want 2", got)
	}
	a.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(body), "ok") {
		t.Fatalf("third connection not served after a slot freed: %q, %v", body, err)
	}
	waitFor(t, "the closed connections' slots", func() bool { return l.Open() == 1 })
	for name, want := range map[string]float64{
		"readout_test_connections_waited_total": 1,
		"readout_test_connections_open":         1,
		"readout_test_connections_max":          2,
	} {
		if got := sample(t, reg, name); got != want {
			t.Fatalf("unexpected %s; got %v; want %v", name, got, want)
		}
	}
}

// sample is the value of the one series of family name in reg.
func sample(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestListenerCloseWhileWaiting: Close wakes an Accept that waits for a
// slot, and a connection closed twice gives its slot back once.
func TestListenerCloseWhileWaiting(t *testing.T) {
	l := listen(t, 1, nil)
	first, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if got := l.Open(); got != 0 {
		t.Fatalf("unexpected open connections after a double Close; got %d; want 0", got)
	}
	held, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	c, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept() // at the cap: waits for a slot
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("unexpected error from Accept after Close; got %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake an Accept waiting at the cap")
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "readout", "collector")
	New(&net.TCPListener{}, 4, m, "ingest")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 3 {
		t.Fatalf("unexpected metric families; got %d; want 3", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
