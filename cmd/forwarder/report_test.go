package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/wire"
)

// TestReportFlagErrors: a bad --report-addr, or a non-loopback one
// without a token or the insecure opt-in, is a one-line start error (exit
// 2), as the collector's --listen is.
func TestReportFlagErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-token")
	os.WriteFile(empty, []byte("\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sockDir := shortTempDir(t)
	base := []string{"--socket", filepath.Join(sockDir, "f.sock"), "--spool", filepath.Join(dir, "spool"), "--collector", "http://127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no port", []string{"--report-addr", "127.0.0.1"}, "--report-addr"},
		{"port not a number", []string{"--report-addr", "127.0.0.1:http"}, "--report-addr"},
		{"port out of range", []string{"--report-addr", "127.0.0.1:70000"}, "--report-addr"},
		{"wildcard without token", []string{"--report-addr", "0.0.0.0:0"}, "not loopback-only"},
		{"empty host without token", []string{"--report-addr", ":0"}, "not loopback-only"},
		{"private address without token", []string{"--report-addr", "10.1.2.3:8080"}, "not loopback-only"},
		{"host name without token", []string{"--report-addr", "director.internal:8080"}, "not loopback-only"},
		{"empty token file", []string{"--report-addr", "127.0.0.1:0", "--report-token-file", empty}, "empty"},
		{"token file without address", []string{"--report-token-file", token}, "needs --report-addr"},
		{"insecure without address", []string{"--report-insecure-no-auth"}, "needs --report-addr"},
		{"address in use", []string{"--report-addr", taken.Addr().String()}, "--report-addr"},
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
		})
	}
	for _, ok := range [][]string{
		{"--report-addr", "127.0.0.1:0"},
		{"--report-addr", "[::1]:0"},
		{"--report-addr", "localhost:0"},
		{"--report-addr", "0.0.0.0:0", "--report-insecure-no-auth"},
		{"--report-addr", "0.0.0.0:0", "--report-token-file", token},
	} {
		o, err := parse(append(append([]string{}, base...), ok...), io.Discard)
		if err != nil {
			t.Errorf("%v: %v; want accepted", ok, err)
			continue
		}
		if o.report == nil || o.report.Addr != ok[1] {
			t.Errorf("%v: report config %+v", ok, o.report)
		}
	}
}

// TestReportEndToEnd runs the forwarder binary with --report-addr and a
// token: a report is answered 200, a request without the token 401, and
// after SIGTERM the collector has the event and the report emitter's
// closed message with the same seq.
func TestReportEndToEnd(t *testing.T) {
	bin := buildForwarder(t)
	col := newKindCollector(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	addr := freePort(t)
	p := startProc(t, bin, "--socket", filepath.Join(shortTempDir(t), "f.sock"), "--spool", filepath.Join(dir, "spool"),
		"--collector", col.srv.URL, "--batch-linger", "5ms", "--report-addr", addr, "--report-token-file", token)
	body := `{"active_time": 5.0, "boot_time": 0.0, "idle_time": 10.0, "metric_duration": 15.0, "utilization": 0.3333333333333333,
		"mean_concurrency": 0.5, "deployment_key": "d", "docker_image_uri": "i", "hardware": "h", "compute_unit": "gpu",
		"compute_unit_count": 1, "instance_id": "x", "instance_metadata": {"k": "v"}, "version": "v"}`
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/instance-state", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, 20*time.Second, "report listener", func() bool { return post("") == http.StatusUnauthorized })
	if code := post("Bearer s3cret"); code != http.StatusOK {
		t.Fatalf("POST with the token: %d; want 200", code)
	}
	http.DefaultClient.CloseIdleConnections()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if rc := p.wait(t, 30*time.Second); rc != 0 {
		t.Fatalf("exit status %d after SIGTERM; want 0\n%s", rc, p.stderr)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.events) != 2 {
		t.Fatalf("collector got %d messages; want the instance state and the closed message", len(col.events))
	}
	ev, closed := col.events[0], col.events[1]
	if ev.Kind != wire.KindInstanceState || ev.Seq != 1 || ev.InstanceState.ConcurrencyNs != 7.5e9 ||
		closed.Kind != wire.KindClosed || closed.Seq != 1 || closed.EmitterID != ev.EmitterID || ev.Anonymous() {
		t.Fatalf("got %+v then %+v; want the instance state as seq 1, then its emitter's closed message with seq 1", ev, closed)
	}
	if !strings.Contains(p.stderr.String(), "report server started") {
		t.Errorf("no start log line in %s", p.stderr)
	}
}

// kindCollector records every message of every batch once, in order.
type kindCollector struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]bool
	events []wire.Event
}

func newKindCollector(t *testing.T) *kindCollector {
	c := &kindCollector{seen: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "zstd" {
			zr, err := zstd.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			body = zr
		}
		data, _ := io.ReadAll(body)
		b, err := wire.DecodeBatch(data, wire.DefaultMaxMessageSize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		k := fmt.Sprintf("%x/%d", b.ForwarderID, b.BatchSeq)
		if c.seen[k] {
			return
		}
		c.seen[k] = true
		wire.Frames(b.Events, wire.DefaultMaxMessageSize, func(f []byte) error {
			ev, err := wire.DecodeEventCapnp(f)
			if err == nil {
				c.events = append(c.events, ev)
			}
			return err
		})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// shortTempDir is a temporary directory short enough for a socket path.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fwr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
