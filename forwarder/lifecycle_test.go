package forwarder

import (
	"context"
	"testing"
)

// TestShutdownLifecycle: Shutdown is safe without Start and idempotent,
// with or without Start, as the collector's is.
func TestShutdownLifecycle(t *testing.T) {
	col := newTestCollector(t)
	for _, start := range []bool{false, true} {
		f, err := New(testConfig(t, col.srv.URL), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if start {
			f.Start()
		}
		for i := range 3 {
			if err := f.Shutdown(context.Background()); err != nil {
				t.Fatalf("start %v, shutdown %d: %v", start, i+1, err)
			}
		}
		if f.Ready() {
			t.Fatalf("start %v: ready after Shutdown", start)
		}
	}
}
