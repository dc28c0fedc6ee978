package forwarder

import (
	"context"
	"fmt"
	"sync"
)

// lifecycle gives the forwarder the lifecycle the collector has: New,
// Start, and a Shutdown that is safe without Start and idempotent.
type lifecycle struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run has returned, or Shutdown without Start has closed everything
	err     error
}

// Start serves in the background, as Run does, until Shutdown.
func (f *Forwarder) Start() {
	f.life.mu.Lock()
	defer f.life.mu.Unlock()
	if f.life.started || f.life.stopped {
		return
	}
	f.life.started = true
	ctx, cancel := context.WithCancel(context.Background())
	f.life.cancel, f.life.done = cancel, make(chan struct{})
	go func() {
		f.life.err = f.Run(ctx)
		close(f.life.done)
	}()
}

// Shutdown drains as Run does once its context ends (stop accepting, spool
// what open connections hold, ship until the spool is empty or
// DrainTimeout passes) and waits for it, or for ctx. Without Start it
// closes what New opened. Later calls wait for the first and return its
// result.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	f.life.mu.Lock()
	if !f.life.stopped {
		f.life.stopped = true
		if f.life.started {
			f.life.cancel()
		} else {
			f.life.done = make(chan struct{})
			f.life.err = f.closeUnstarted()
			close(f.life.done)
		}
	}
	done := f.life.done
	f.life.mu.Unlock()
	select {
	case <-done:
		return f.life.err
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

// closeUnstarted releases what New opened when Run never ran.
func (f *Forwarder) closeUnstarted() error {
	f.ready.Store(false)
	// Appends made before Start are in the batcher, which no writer will
	// ever drain: refuse more, and tell their waiters. Their callers may be
	// blocked in the batcher, so they are not waited for.
	f.local.mu.Lock()
	f.local.closed = true
	f.local.mu.Unlock()
	close(f.local.writerStopped)
	f.ln.Close()
	f.sender.Close()
	return f.sp.Close()
}
