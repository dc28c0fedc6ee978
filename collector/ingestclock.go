package collector

import "time"

// ingestClock measures the collector's own running time, across restarts:
// it stands still while the collector is down. The dedupe TTL is measured
// on it, so an outage, however long, never makes an emitter look silent;
// the emitters kept writing into forwarder spools the whole time, and a
// batch stored just before the outage whose 200 never arrived is re-sent
// when it ends.
//
// Each WAL record carries its arrival on this clock, and each checkpoint
// the clock's reading, so that a restart continues from the newest reading
// it finds rather than from the wall clock.
type ingestClock struct {
	base    int64     // the reading at started
	started time.Time // wall clock (with its monotonic reading) at start
	wall    func() time.Time
}

// resume starts the clock at the reading from, now.
func (k *ingestClock) resume(from int64, wall func() time.Time) {
	k.base, k.started, k.wall = from, wall(), wall
}

// now is the clock's reading.
func (k *ingestClock) now() int64 { return k.at(k.wall()) }

// at is the clock's reading at wall-clock time t: the reading at start
// plus the running time since, which time.Time measures on the monotonic
// clock where it has one, so wall-clock steps do not move it either.
func (k *ingestClock) at(t time.Time) int64 {
	return k.base + int64(max(0, t.Sub(k.started)))
}
