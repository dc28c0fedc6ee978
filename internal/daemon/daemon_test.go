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
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestNewLoggerLevels(t *testing.T) {
	for _, tc := range []struct {
		name string
		want zapcore.Level
	}{
		{"debug", zap.DebugLevel},
		{"info", zap.InfoLevel},
		{"warn", zap.WarnLevel},
		{"error", zap.ErrorLevel},
	} {
		log, err := NewLogger(tc.name)
		if err != nil {
			t.Fatalf("level %q: %v", tc.name, err)
		}
		if got := log.Level(); got != tc.want {
			t.Errorf("level %q: unexpected level; got %v; want %v", tc.name, got, tc.want)
		}
		// The level is the one enabled: nothing below it, everything from it up.
		if tc.want > zap.DebugLevel && log.Core().Enabled(tc.want-1) {
			t.Errorf("level %q: %v is enabled too", tc.name, tc.want-1)
		}
		if !log.Core().Enabled(tc.want) {
			t.Errorf("level %q: %v is not enabled", tc.name, tc.want)
		}
	}
	if _, err := NewLogger("loud"); err == nil {
		t.Fatal("an unknown level was accepted")
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, path, want, wantErr string
	}{
		{"no flag", "", "", ""},
		{"trimmed", write("token", "  s3cret\n"), "s3cret", ""},
		{"empty", write("empty", " \n\t"), "", "--token-file " + filepath.Join(dir, "empty") + " is empty"},
		{"missing", filepath.Join(dir, "missing"), "", "--token-file: open " + filepath.Join(dir, "missing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadTokenFile("--token-file", tc.path)
			if got != tc.want {
				t.Errorf("unexpected token; got %q; want %q", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
				t.Errorf("unexpected error; got %v; want one starting %q", err, tc.wantErr)
			}
		})
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
