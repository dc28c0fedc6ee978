// Package lograte keeps a log line that can repeat per event or per batch
// to one per interval, so that a flood of bad input cannot flood the log.
// Counters, not logs, carry the totals.
package lograte

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limit allows one line per Every. The zero value allows every line; it is
// safe for concurrent use.
type Limit struct {
	Every time.Duration
	last  atomic.Int64 // Unix ns of the last line allowed, 0 for none
}

// Allow reports whether a line may be logged at now, and if so counts it.
func (l *Limit) Allow(now time.Time) bool {
	last := l.last.Load()
	if last != 0 && now.UnixNano()-last < int64(l.Every) {
		return false
	}
	return l.last.CompareAndSwap(last, now.UnixNano())
}

// Kinds is a Limit per kind of line, for a component that logs many kinds
// of repeating line. The zero value has Every 0; it is safe for concurrent
// use.
type Kinds struct {
	Every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

// Allow reports whether a line of kind may be logged at now.
func (k *Kinds) Allow(kind string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if last, ok := k.last[kind]; ok && now.Sub(last) < k.Every {
		return false
	}
	if k.last == nil {
		k.last = make(map[string]time.Time)
	}
	k.last[kind] = now
	return true
}
