package forwarder

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestSocketModeAndOwner: the socket file has exactly the asked mode,
// whatever the umask, and belongs to the process's uid.
func TestSocketModeAndOwner(t *testing.T) {
	dir := shortDir(t)
	cases := []struct {
		name  string
		mode  os.FileMode
		umask int
	}{
		{"default 0660 under umask 022", 0o660, 0o022},
		{"0600 under umask 022", 0o600, 0o022},
		{"0660 under a strict umask", 0o660, 0o077},
		{"0600 under umask 0", 0o600, 0},
		{"0666 under umask 0", 0o666, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The umask is process-wide: this test is not parallel, and
			// restores it at once.
			old := syscall.Umask(tc.umask)
			path := filepath.Join(dir, string(rune('a'+i))+".sock")
			ln, err := Listen(path, tc.mode)
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tc.mode {
				t.Fatalf("unexpected mode; got %v; want socket %o", fi.Mode(), tc.mode)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != uint32(os.Getuid()) {
				t.Fatalf("unexpected owner; got uid %d; want %d", st.Uid, os.Getuid())
			}
		})
	}
	t.Run("forwarder default", func(t *testing.T) {
		cfg := testConfig(t, "http://127.0.0.1:1")
		startForwarder(t, cfg)
		fi, err := os.Lstat(cfg.Socket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o660 {
			t.Fatalf("default socket mode %o; want 660", fi.Mode().Perm())
		}
	})
}

// TestAllowUIDList: a list naming the peer's uid among others admits it; a
// list without it refuses every connection and counts each.
func TestAllowUIDList(t *testing.T) {
	tc := newTestCollector(t)
	me := uint32(os.Getuid())
	cfg := testConfig(t, tc.URL())
	cfg.AllowUIDs = []uint32{me + 7, me + 1}
	r := startForwarder(t, cfg)
	for range 3 {
		expectClosed(t, rawConn(t, cfg.Socket), 2*time.Second)
	}
	if n := r.metricLabel(t, "readout_forwarder_connections_rejected_total", "reason", "peer_uid"); n != 3 {
		t.Fatalf("rejected = %v; want 3", n)
	}
	if n := r.metric(t, "readout_forwarder_events_received_total"); n != 0 {
		t.Fatalf("events from refused peers: %v", n)
	}
	r.stop(t)
	cfg.AllowUIDs = []uint32{me + 1, me}
	r = startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 2)
	waitFor(t, 5*time.Second, "ack", func() bool { return e.acked.Load() == 2 })
	if n := r.metricLabel(t, "readout_forwarder_connections_rejected_total", "reason", "peer_uid"); n != 0 {
		t.Fatalf("rejected = %v; want 0", n)
	}
}

func TestCollectorURLPolicy(t *testing.T) {
	cases := []struct {
		url, wantErr string
	}{
		{"http://collector:9000", ""},
		{"https://collector:9000/base/", ""},
		{"https://user:hunter2@collector:9000", "must not hold credentials"},
		{"https://user@collector:9000", "must not hold credentials"},
		{"http://user:hunter2%zz@collector", "must not hold credentials"},
		{"http://collector:9000/?token=x", "without a query"},
		{"http://collector:9000/#x", "without a query"},
		{"ftp://collector", "http:// or https://"},
	}
	for _, c := range cases {
		cfg := testConfig(t, c.url)
		err := cfg.Validate()
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.url, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: got %v; want an error mentioning %q", c.url, err, c.wantErr)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: the error repeats the password: %v", c.url, err)
		}
	}
}

// TestNoSecretInLogsOrMetrics runs a forwarder with a token against a
// collector that answers 401 and one that is unreachable, at debug level,
// and checks that the token is in no log line and no metric.
func TestNoSecretInLogsOrMetrics(t *testing.T) {
	const secret = "S3CRET-forwarder-token"
	var got []string
	tc := newTestCollector(t)
	tc.status.Store(http.StatusUnauthorized)
	for _, url := range []string{tc.URL(), "http://127.0.0.1:1"} {
		core, logs := observer.New(zapcore.DebugLevel)
		cfg := testConfig(t, url)
		cfg.Token = secret
		cfg.AuthRetry = 10 * time.Millisecond
		cfg.DrainTimeout = 100 * time.Millisecond // nothing can be delivered
		reg := prometheus.NewRegistry()
		f, err := New(cfg, zap.New(core), reg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := contextWithCancel()
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		r := &running{f: f, reg: reg}
		e := dialEmitter(t, cfg.Socket, 1)
		e.send(t, 3)
		waitFor(t, 10*time.Second, "failed deliveries", func() bool {
			return r.metric(t, "readout_forwarder_ship_retries_total") >= 2
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		for _, en := range logs.All() {
			buf, err := enc.EncodeEntry(en.Entry, en.Context)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf.String())
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(&text, mf)
		}
		got = append(got, text.String())
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "check --token-file") || !strings.Contains(all, "retrying") {
		t.Fatalf("the failures were not logged:\n%s", all)
	}
	if strings.Contains(all, secret) {
		t.Fatalf("the token appears in logs or metrics:\n%s", all)
	}
}
