package emitter

import (
	"sync/atomic"
	"time"
)

// Reading the clock costs about 240 ns on this project's reference machine
// (kvm-clock, no vDSO fast path), more than Emit's whole budget. So Emit
// reads a coarse clock that a small goroutine refreshes every
// clockResolution while events flow, and parks after clockIdle without any:
// then the next reader pays for one real clock read and wakes it. Either
// way a timestamp is at most about two ticks old.
const (
	clockResolution = time.Millisecond
	clockIdle       = 100 // ticks without a reader before the ticker parks
)

type coarseClock struct {
	now    atomic.Int64 // Unix ns, valid while !parked
	used   atomic.Bool  // a reader came since the last tick
	parked atomic.Bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	c.now.Store(time.Now().UnixNano())
	return c
}

// Now returns the time in Unix ns, to within about two ticks.
func (c *coarseClock) Now() int64 {
	if !c.used.Load() {
		c.used.Store(true) // written once per tick at most, not per call
	}
	if c.parked.Load() {
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return time.Now().UnixNano()
	}
	return c.now.Load()
}

func (c *coarseClock) run() {
	defer close(c.done)
	t := time.NewTicker(clockResolution)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.now.Store(time.Now().UnixNano())
		if c.used.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < clockIdle {
			continue
		}
		c.parked.Store(true)
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.now.Store(time.Now().UnixNano())
		c.parked.Store(false)
		idle = 0
		t.Reset(clockResolution)
	}
}

// close stops the ticker goroutine and waits for it.
func (c *coarseClock) close() {
	close(c.stop)
	<-c.done
}
