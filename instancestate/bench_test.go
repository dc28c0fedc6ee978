package instancestate

import (
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

type discard struct{}

func (discard) EmitInstanceState(*wire.InstanceState) bool { return true }

// BenchmarkStartFinish is what the monitor adds to one prediction on the
// request path: a Start and a Finish, on the default clock.
func BenchmarkStartFinish(b *testing.B) {
	m, err := New(Options{Sink: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		m.Start()
		_ = m.Finish()
	}
}

// BenchmarkStartFinishAt is the same for a caller that passes the times
// it already read: the lock and the sums, without the clock.
func BenchmarkStartFinishAt(b *testing.B) {
	m, err := New(Options{Sink: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.StartAt(now)
		_ = m.FinishAt(now)
	}
}

// BenchmarkStartFinishParallel is the same from many request goroutines,
// contending for the monitor's lock.
func BenchmarkStartFinishParallel(b *testing.B) {
	m, err := New(Options{Sink: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Start()
			_ = m.Finish()
		}
	})
}
