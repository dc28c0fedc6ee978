package endtoend

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunWithoutBinaries fails each stage with a clear error instead of
// hanging or panicking.
func TestRunWithoutBinaries(t *testing.T) {
	st := Run(context.Background(), Config{Bin: t.TempDir(), Dir: t.TempDir(), Events: 10, Emitters: 2,
		Timeout: 5 * time.Second, Poll: 10 * time.Millisecond, Hops: true})
	if len(st) != 3 {
		t.Fatalf("unexpected stages; got %d; want 3", len(st))
	}
	for _, s := range st {
		if s.Error == "" {
			t.Fatalf("stage %s: want an error", s.Key)
		}
	}
	if !strings.Contains(st[0].Error, "collector") || !strings.Contains(st[2].Error, "not run") {
		t.Fatalf("unexpected errors: %q, %q", st[0].Error, st[2].Error)
	}
}
