package window

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// benchFrames encodes n events spread over keys distinct keys in one window.
func benchFrames(n, keys int) [][]byte {
	r := rand.New(rand.NewSource(1))
	models := make([]string, 50)
	for i := range models {
		models[i] = fmt.Sprintf("@cf/vendor/model-%02d-instruct", i)
	}
	frames := make([][]byte, n)
	for i := range frames {
		k := i % keys
		ev := wire.Event{TimestampNs: int64(time.Hour) + int64(r.Intn(59))*int64(time.Second), EmitterID: [16]byte{1},
			Seq: uint64(i + 1), Kind: wire.KindInference}
		r.Read(ev.ID[:])
		ev.Inference = wire.Inference{
			ModelID: models[k%len(models)], AccountID: uint64(k / len(models)), ColoID: uint32(k % 7),
			Backend: "vllm", RequestSource: wire.SourceWorker, RequestTimeUs: uint64(1000 + r.Intn(100000)),
			InferenceTimeUs: uint64(r.Intn(50000)), QueuingTimeUs: uint64(r.Intn(1000)), Streamed: i%2 == 0,
			TimeToFirstTokenUs: uint64(r.Intn(3000)), Neurons: 3.25, InputTokens: 100, OutputTokens: 200,
		}
		frames[i] = wire.AppendEvent(nil, &ev)
	}
	return frames
}

// BenchmarkDecodeAggregate measures the collector's per-event work: decode
// a frame and fold it into its window, with 10,000 active keys.
func BenchmarkDecodeAggregate(b *testing.B) {
	const keys = 10000
	frames := benchFrames(100000, keys)
	a := New(Config{Width: time.Minute, MaxGroups: 100000, MaxModels: 1000})
	var ev wire.Event
	for _, f := range frames { // warm: every key exists
		wire.DecodeEvent(f, &ev)
		a.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		f := frames[i%len(frames)]
		if err := wire.DecodeEvent(f, &ev); err != nil {
			b.Fatal(err)
		}
		a.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// Per CPU-second of this process: what one core does, even on a
	// machine busy with other work.
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "events/cpu-s")
	if a.Groups() != keys {
		b.Fatalf("got %d groups; want %d", a.Groups(), keys)
	}
}

// BenchmarkMemoryPerKey reports heap bytes per active key once each of
// 10,000 keys has seen 20 events (streamed half the time).
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 10000
	frames := benchFrames(20*keys, keys)
	var ev wire.Event
	var perKey float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a := New(Config{Width: time.Minute, MaxGroups: 100000, MaxModels: 1000})
		for _, f := range frames {
			wire.DecodeEvent(f, &ev)
			a.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perKey = float64(after.HeapAlloc-before.HeapAlloc) / keys
		runtime.KeepAlive(a)
	}
	b.ReportMetric(perKey, "bytes/key")
}

// BenchmarkParquetWrite measures rows/s of writing one window's rows
// (10,000 keys) as an atomic Parquet file.
func BenchmarkParquetWrite(b *testing.B) {
	const keys = 10000
	frames := benchFrames(5*keys, keys)
	a := New(Config{Width: time.Minute, MaxGroups: 100000, MaxModels: 1000})
	var ev wire.Event
	for _, f := range frames {
		wire.DecodeEvent(f, &ev)
		a.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
	}
	w := a.Closable(0, 0, true)[0]
	dir := b.TempDir()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	rows := 0
	for i := 0; i < b.N; i++ {
		rs := w.Rows(time.Minute)
		if err := table.WriteInference(filepath.Join(dir, fmt.Sprintf("f%d.parquet", i)), rs); err != nil {
			b.Fatal(err)
		}
		rows += len(rs)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/(cpuSeconds()-cpu0), "rows/cpu-s")
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
