package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	readoutcollector "github.com/readout-dev/readout/collector"
	"github.com/readout-dev/readout/internal/testpki"
)

// writePKI writes a throwaway CA and a server certificate it signed for
// 127.0.0.1 into dir, and returns the three PEM file names.
func writePKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	p := testpki.Write(t, dir)
	return p.CAFile, p.CertFile, p.KeyFile
}

// tlsCollector is a real collector (the collector package) served over
// TLS, with its logs and the HTTPS server's error log observed.
type tlsCollector struct {
	url  string
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

func startTLSCollector(t *testing.T, certFile, keyFile, token string) *tlsCollector {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	cfg := readoutcollector.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir = "127.0.0.1:0", t.TempDir(), t.TempDir()
	cfg.Token, cfg.TLSCert, cfg.TLSKey = token, certFile, keyFile
	c, err := readoutcollector.Open(cfg, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	tc, err := readoutcollector.LoadTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.TLS = tc
	// Every line net/http logs, unlimited, so the test sees each one.
	srv.Config.ErrorLog = zap.NewStdLog(zap.New(core))
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &tlsCollector{url: srv.URL, reg: reg, logs: logs}
}

// metric sums the samples of a family whose label text contains match.
func gathered(t *testing.T, reg *prometheus.Registry, name, match string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels strings.Builder
			for _, l := range m.GetLabel() {
				labels.WriteString(l.GetName() + "=" + l.GetValue() + ",")
			}
			if strings.Contains(labels.String(), match) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// scrape returns the forwarder's /metrics text.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTLSAndToken runs the forwarder binary against a real collector over
// TLS: with --ca-file the events arrive; without it every delivery fails
// certificate verification and is retried and counted, and nothing reaches
// the collector, in TLS or in plaintext; with a wrong token it is refused.
// The token appears in no log line and no metric.
func TestTLSAndToken(t *testing.T) {
	const secret = "S3CRET-token-in-a-file"
	bin := buildForwarder(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := writePKI(t, dir)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600)

	run := func(t *testing.T, col *tlsCollector, extra ...string) (*proc, string, *client) {
		t.Helper()
		sockDir, err := os.MkdirTemp("", "fwds")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sockDir) })
		socket, ops := filepath.Join(sockDir, "f.sock"), freeAddr(t)
		args := append([]string{"--socket", socket, "--spool", filepath.Join(t.TempDir(), "spool"),
			"--collector", col.url, "--token-file", tokenFile, "--metrics-addr", ops, "--log-level", "debug",
			"--batch-linger", "5ms", "--retry-min", "5ms", "--retry-max", "20ms", "--auth-retry", "20ms", "--drain-timeout", "200ms"}, extra...)
		p := startProc(t, bin, args...)
		cl := dial(t, socket)
		var buf []byte
		for seq := uint64(1); seq <= 50; seq++ {
			buf = append(buf, event(t, seq)...)
		}
		if _, err := cl.c.Write(buf); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "events spooled", func() bool { return cl.acked.Load() == 50 })
		return p, ops, cl
	}
	stop := func(t *testing.T, p *proc, ops string, cl *client) string {
		t.Helper()
		metrics := scrape(t, ops)
		cl.c.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 20*time.Second)
		out := p.stderr.String() // the process has exited: no more writes
		for _, where := range []string{out, metrics} {
			if strings.Contains(where, secret) {
				t.Fatalf("the token appears in the forwarder's logs or metrics:\n%s", where)
			}
		}
		return out + metrics
	}
	accepted := func(col *tlsCollector) float64 {
		return gathered(t, col.reg, "readout_collector_events_accepted_total", "kind=inference")
	}

	t.Run("with --ca-file events arrive", func(t *testing.T) {
		col := startTLSCollector(t, certFile, keyFile, secret)
		p, ops, cl := run(t, col, "--ca-file", caFile)
		waitFor(t, 20*time.Second, "events at the collector", func() bool { return accepted(col) == 50 })
		stop(t, p, ops, cl)
	})

	t.Run("without --ca-file verification fails and is retried", func(t *testing.T) {
		col := startTLSCollector(t, certFile, keyFile, secret)
		p, ops, cl := run(t, col)
		waitFor(t, 20*time.Second, "tls retries", func() bool {
			return strings.Contains(scrape(t, ops), `readout_forwarder_ship_retries_total{reason="tls"}`)
		})
		out := stop(t, p, ops, cl)
		if !strings.Contains(out, "certificate signed by unknown authority") {
			t.Fatalf("the verification failure was not logged:\n%s", out)
		}
		if got := accepted(col); got != 0 {
			t.Fatalf("the collector accepted %v events from an unverified connection", got)
		}
		var serverLog bytes.Buffer
		for _, e := range col.logs.All() {
			serverLog.WriteString(e.Message + "\n")
		}
		if !strings.Contains(serverLog.String(), "TLS handshake error") {
			t.Fatalf("the collector saw no failed handshake:\n%s", serverLog.String())
		}
		if strings.Contains(serverLog.String(), "HTTP request to an HTTPS server") {
			t.Fatalf("the forwarder fell back to plaintext:\n%s", serverLog.String())
		}
	})

	t.Run("wrong token is refused and not logged", func(t *testing.T) {
		col := startTLSCollector(t, certFile, keyFile, "the-collector-wants-another")
		p, ops, cl := run(t, col, "--ca-file", caFile)
		waitFor(t, 20*time.Second, "unauthorized retries", func() bool {
			return strings.Contains(scrape(t, ops), `readout_forwarder_ship_retries_total{reason="unauthorized"}`)
		})
		out := stop(t, p, ops, cl)
		if !strings.Contains(out, "check --token-file") {
			t.Fatalf("the refusal was not logged:\n%s", out)
		}
		if got := gathered(t, col.reg, "readout_collector_batches_total", "code=401"); got == 0 {
			t.Fatal("the collector answered no 401")
		}
	})
}

func TestSecurityConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	caFile, _, keyFile := writePKI(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	sock, spool := filepath.Join(dir, "s.sock"), filepath.Join(dir, "spool")
	base := []string{"--socket", sock, "--spool", spool}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"ca-file with http", []string{"--collector", "http://x", "--ca-file", caFile}, "needs an https://"},
		{"missing ca-file", []string{"--collector", "https://x", "--ca-file", filepath.Join(dir, "none.pem")}, "--ca-file"},
		{"ca-file not PEM", []string{"--collector", "https://x", "--ca-file", notPEM}, "no PEM certificate"},
		{"ca-file holds only a key", []string{"--collector", "https://x", "--ca-file", keyFile}, "no PEM certificate"},
		{"password in the URL", []string{"--collector", "https://u:hunter2@x"}, "must not hold credentials"},
		{"query in the URL", []string{"--collector", "https://x/?token=hunter2"}, "without a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if rc := run(append(append([]string{}, base...), tt.args...), &stderr); rc != 2 {
				t.Fatalf("exit %d; want 2 (stderr %q)", rc, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, tt.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("stderr %q: want one line mentioning %q", msg, tt.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("stderr repeats the secret: %q", msg)
			}
		})
	}
}
