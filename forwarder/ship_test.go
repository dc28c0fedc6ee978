package forwarder

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestCollectorAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		metric   string
		quarFile bool // the batch lands in the spool's quarantine
		once     bool // only the first request gets status
	}{
		{name: "400 quarantines", status: http.StatusBadRequest, metric: "readout_forwarder_batches_quarantined_total", quarFile: true},
		// Once: answered 413 until the test sees the split, the halves
		// could be split again down to single events, which are then
		// quarantined and never delivered.
		{name: "413 splits", status: http.StatusRequestEntityTooLarge, metric: "readout_forwarder_batches_split_total", once: true},
		{name: "401 retries", status: http.StatusUnauthorized, metric: "readout_forwarder_ship_retries_total"},
		{name: "503 retries", status: http.StatusServiceUnavailable, metric: "readout_forwarder_ship_retries_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCollector(t)
			tc.status.Store(int32(tt.status))
			if tt.once {
				tc.statusLeft.Store(1)
			}
			cfg := testConfig(t, tc.URL())
			cfg.AuthRetry = 20 * time.Millisecond
			cfg.Compress = "none"
			r := startForwarder(t, cfg)
			e := dialEmitter(t, cfg.Socket, 1)
			e.send(t, 10)
			waitFor(t, 5*time.Second, tt.metric, func() bool { return r.metric(t, tt.metric) >= 1 })
			tc.status.Store(0)
			if tt.quarFile {
				m, _ := filepath.Glob(filepath.Join(cfg.Spool, "quarantine", "batch-*.capnp"))
				if len(m) != 1 {
					t.Fatalf("quarantine holds %d batches; want 1", len(m))
				}
				r.stop(t)
				if got, _ := tc.snapshot(); len(got) != 0 {
					t.Errorf("collector got %d events of a quarantined batch", len(got))
				}
				return
			}
			waitFor(t, 5*time.Second, "delivery", func() bool { got, _ := tc.snapshot(); return len(got) == 10 })
			r.stop(t)
			tc.check()
		})
	}
}

func TestSpoolFullStopsAcks(t *testing.T) {
	tc := newTestCollector(t)
	tc.status.Store(http.StatusServiceUnavailable)
	cfg := testConfig(t, tc.URL())
	cfg.MaxMessage = 1024
	cfg.BatchMaxBytes = 4 << 10
	cfg.SpoolMaxBytes = 32 << 10
	r := startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	// Far more than the spool holds; the writes themselves may block once
	// the forwarder stops reading, so they run aside.
	const total = 2000
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		var buf []byte
		for range total {
			buf = append(buf, e.event(t)...)
		}
		e.c.Write(buf)
	}()
	waitFor(t, 5*time.Second, "spool full", func() bool { return r.metric(t, "readout_forwarder_spool_full") == 1 })
	time.Sleep(100 * time.Millisecond)
	stuck := e.acked.Load()
	if stuck == 0 || stuck >= total {
		t.Fatalf("acked %d of %d while full; want some but not all", stuck, total)
	}
	time.Sleep(200 * time.Millisecond)
	if e.acked.Load() != stuck {
		t.Fatalf("acks moved from %d to %d while the spool was full", stuck, e.acked.Load())
	}
	if b := r.metric(t, "readout_forwarder_spool_bytes"); b > float64(cfg.SpoolMaxBytes) {
		t.Fatalf("spool holds %v bytes over its %d cap", b, cfg.SpoolMaxBytes)
	}
	tc.status.Store(0)
	<-wrote
	waitFor(t, 10*time.Second, "all acked", func() bool { return e.acked.Load() == total })
	r.stop(t)
	tc.check()
	if got, _ := tc.snapshot(); len(got) != total {
		t.Fatalf("collector got %d events; want %d", len(got), total)
	}
}

func TestRestartShipsSpooledData(t *testing.T) {
	tc := newTestCollector(t)
	tc.status.Store(http.StatusServiceUnavailable)
	cfg := testConfig(t, tc.URL())
	cfg.DrainTimeout = 200 * time.Millisecond
	r := startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 100)
	waitFor(t, 5*time.Second, "acks", func() bool { return e.acked.Load() == 100 })
	r.stop(t) // the drain times out: the collector is down
	if got, _ := tc.snapshot(); len(got) != 0 {
		t.Fatalf("collector got %d events while down", len(got))
	}
	tc.status.Store(0)
	r = startForwarder(t, cfg)
	waitFor(t, 5*time.Second, "delivery after restart", func() bool { got, _ := tc.snapshot(); return len(got) == 100 })
	r.stop(t)
	tc.check()
}

func TestMetricsLintAndEndpoints(t *testing.T) {
	tc := newTestCollector(t)
	r := startForwarder(t, testConfig(t, tc.URL()))
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	probs, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "readout_forwarder_") {
			t.Errorf("metric %s lacks the readout_forwarder_ prefix", mf.GetName())
		}
	}
	h := r.f.Handler(r.reg)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := newRecorder()
		h.ServeHTTP(rec, mustRequest(t, path))
		if rec.code != http.StatusOK {
			t.Errorf("%s: status %d; want 200", path, rec.code)
		}
	}
	r.stop(t)
	rec := newRecorder()
	h.ServeHTTP(rec, mustRequest(t, "/readyz"))
	if rec.code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after stop: status %d; want 503", rec.code)
	}
}

func TestListen(t *testing.T) {
	dir := shortDir(t)
	t.Run("mode applied", func(t *testing.T) {
		path := filepath.Join(dir, "a.sock")
		ln, err := Listen(path, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %o; want 600", fi.Mode().Perm())
		}
		if _, err := Listen(path, 0o600); err == nil || !strings.Contains(err.Error(), "another process") {
			t.Errorf("second listener on a live socket: %v; want a refusal", err)
		}
	})
	t.Run("stale socket replaced", func(t *testing.T) {
		path := filepath.Join(dir, "b.sock")
		ln, err := Listen(path, 0o660)
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // leaves the file, as a crash would
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		ln, err = Listen(path, 0o660)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		ln.Close()
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(dir, "c.sock")
		os.WriteFile(path, []byte("precious"), 0o600)
		if _, err := Listen(path, 0o660); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Fatalf("got %v; want a not-a-socket error", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "precious" {
			t.Fatal("the file was touched")
		}
	})
}

func TestAllowUID(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.AllowUIDs = []uint32{uint32(os.Getuid()) + 1}
	r := startForwarder(t, cfg)
	c := rawConn(t, cfg.Socket)
	expectClosed(t, c, 2*time.Second)
	if n := r.metricLabel(t, "readout_forwarder_connections_rejected_total", "reason", "peer_uid"); n != 1 {
		t.Errorf("rejected = %v; want 1", n)
	}
	r.stop(t)
	cfg.AllowUIDs = []uint32{uint32(os.Getuid())}
	r = startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 1)
	waitFor(t, 5*time.Second, "ack", func() bool { return e.acked.Load() == 1 })
}
