package collector

import (
	"sync/atomic"
	"time"
)

// logEvery is the least time between two log lines of the same kind for
// errors that can repeat per batch or per event.
const logEvery = 10 * time.Second

// rateLimits remembers when each kind of message was last logged. Only the
// ingest loop uses it.
type rateLimits map[string]time.Time

func (r *rateLimits) allow(kind string, now time.Time) bool {
	if *r == nil {
		*r = make(rateLimits)
	}
	if last, ok := (*r)[kind]; ok && now.Sub(last) < logEvery {
		return false
	}
	(*r)[kind] = now
	return true
}

// sharedLimit is a rate limit for one kind of message logged from many
// goroutines (the HTTP handlers).
type sharedLimit struct{ last atomic.Int64 }

func (l *sharedLimit) allow(now time.Time) bool {
	last := l.last.Load()
	if last != 0 && now.UnixNano()-last < int64(logEvery) {
		return false
	}
	return l.last.CompareAndSwap(last, now.UnixNano())
}
