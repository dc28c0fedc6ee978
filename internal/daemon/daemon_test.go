package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestNewLoggerLevels(t *testing.T) {
	for _, l := range []string{"debug", "info", "warn", "error"} {
		if _, err := NewLogger(l); err != nil {
			t.Fatalf("level %q: %v", l, err)
		}
	}
	if _, err := NewLogger("loud"); err == nil {
		t.Fatal("an unknown level was accepted")
	}
}

func TestWarnIfWorldReadable(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}} {
		path := filepath.Join(dir, "token")
		if err := os.WriteFile(path, []byte("s3cret"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zap.WarnLevel)
		WarnIfWorldReadable(zap.New(core), "--token-file", path)
		if got := logs.Len() == 1; got != tc.warn {
			t.Fatalf("mode %o: warned %v; want %v", tc.mode, got, tc.warn)
		}
	}
}

func TestWithPprof(t *testing.T) {
	ops := http.NewServeMux()
	ops.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "m\n") })
	for _, tc := range []struct {
		name    string
		h       http.Handler
		path    string
		want    int
		contain string
	}{
		{"ops still served", WithPprof(ops), "/metrics", 200, "m"},
		{"profiler index", WithPprof(ops), "/debug/pprof/", 200, "goroutine"},
		{"off by default", ops, "/debug/pprof/", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.contain) {
				t.Errorf("GET %s: %d %q; want %d containing %q", tc.path, resp.StatusCode, body, tc.want, tc.contain)
			}
		})
	}
}
