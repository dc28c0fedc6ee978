package emitter

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// benchEmitter returns an emitter connected to a listener that drains and
// acknowledges as fast as it can, as the forwarder would.
func benchEmitter(b *testing.B, opts Options) (*Emitter, *listener) {
	b.Helper()
	path := socketPath(b)
	l := listen(b, path, false)
	l.fast = true
	opts.SocketPath = path
	e, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.fullReason() != reasonBufferFull {
		if time.Now().After(deadline) {
			b.Fatal("emitter did not connect")
		}
		time.Sleep(time.Millisecond)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	return e, l
}

func reportDrops(b *testing.B, e *Emitter) {
	s := e.Stats()
	if s.Emitted > 0 {
		b.ReportMetric(float64(s.Dropped)/float64(s.Emitted), "dropped/op")
	}
}

// BenchmarkEmit is the cost on the request path: one Emit call.
func BenchmarkEmit(b *testing.B) {
	e, _ := benchEmitter(b, Options{})
	ev := testEvent(1)
	b.ReportAllocs()
	for b.Loop() {
		e.Emit(&ev)
	}
	b.StopTimer()
	reportDrops(b, e)
}

// BenchmarkEmitParallel is Emit from many request goroutines at once.
func BenchmarkEmitParallel(b *testing.B) {
	e, _ := benchEmitter(b, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ev := testEvent(1)
		for pb.Next() {
			e.Emit(&ev)
		}
	})
	b.StopTimer()
	reportDrops(b, e)
}

// BenchmarkAcceptedEmit is Emit when the buffer has room, the common case
// in a server. (BenchmarkEmit saturates the writer, so most of its calls
// take the cheaper drop path.) Events go in bursts of a quarter of a
// 4096-slot buffer, below the level at which Emit wakes the writer, with
// the clock stopped while the writer drains between bursts.
func BenchmarkAcceptedEmit(b *testing.B) {
	const size, burst = 4096, 1024
	e, _ := benchEmitter(b, Options{BufferSize: size})
	ev := testEvent(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%burst == 0 {
			b.StopTimer()
			e.kick <- struct{}{}
			for e.q.len() > 0 {
				runtime.Gosched()
			}
			b.StartTimer()
		}
		e.Emit(&ev)
	}
	b.StopTimer()
	reportDrops(b, e)
}

// BenchmarkWriterThroughput measures how many events per second the writer
// encodes and writes to a draining Unix-socket listener. EmitWait feeds it
// so that nothing is dropped; the clock stops when the last event is sent.
func BenchmarkWriterThroughput(b *testing.B) {
	e, _ := benchEmitter(b, Options{BufferSize: 4096})
	ev := testEvent(1)
	ctx := context.Background()
	start := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.EmitWait(ctx, time.Time{}, &ev); err != nil {
			b.Fatal(err)
		}
	}
	for e.Stats().Sent < uint64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
