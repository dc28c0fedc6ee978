package daemon

import (
	"os"
	"path/filepath"
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
