package servermetrics

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAtomicAdd is the floor the request path is measured against: one
// plain atomic add, in the same run.
func BenchmarkAtomicAdd(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		n.Add(1)
	}
}

// BenchmarkRequest is what one request costs the server in metrics: its
// status, one inference (by backend and by health state) and one turnstile
// outcome, on resolved handles. That is four counter moves; ns/add is the
// cost of each, to set beside BenchmarkAtomicAdd.
func BenchmarkRequest(b *testing.B) {
	m, _ := New(nil, Options{})
	inf, healthy := m.Inferences("vllm"), m.InferencesByHealth("healthy")
	b.ReportAllocs()
	for b.Loop() {
		m.Request(200)
		inf.Inc()
		healthy.Inc()
		m.Turnstile(Leased)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4, "ns/add")
}

// BenchmarkRequestOp is each request-path call on its own.
func BenchmarkRequestOp(b *testing.B) {
	m, _ := New(nil, Options{})
	p := m.Model("m")
	p.SetPermits(4)
	inf := m.Inferences("vllm")
	m.Errors(3040, 429)
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"request", func() { m.Request(200) }},
		{"turnstile", func() { m.Turnstile(Leased) }},
		{"inference_handle", inf.Inc},
		{"acquire", p.Acquire}, // never released: the value is not read here
		{"enqueue", p.Enqueue},
		// Resolving the label set on every call instead of keeping the
		// handle: allocation-free, but a map lookup.
		{"inference_lookup", func() { m.Inferences("vllm").Inc() }},
		{"error_lookup", func() { m.Errors(3040, 429).Inc() }},
		{"model_lookup", func() { m.Model("m").Enqueue() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
	}
}

// BenchmarkAtomicAddParallel and BenchmarkRequestParallel are the same from
// every core at once, on shared counters.
func BenchmarkAtomicAddParallel(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Add(1)
		}
	})
}

// BenchmarkAtomicAdd4Parallel is the fair floor for BenchmarkRequestParallel:
// four plain atomic adds to four counters on their own cache lines, as a
// request moves four counters; under contention each line bounces between
// cores, so a request costs about four contended adds, not one.
func BenchmarkAtomicAdd4Parallel(b *testing.B) {
	var n [4]struct {
		v atomic.Int64
		_ [56]byte
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n[0].v.Add(1)
			n[1].v.Add(1)
			n[2].v.Add(1)
			n[3].v.Add(1)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4, "ns/add")
}

func BenchmarkRequestParallel(b *testing.B) {
	m, _ := New(nil, Options{})
	inf, healthy := m.Inferences("vllm"), m.InferencesByHealth("healthy")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(200)
			inf.Inc()
			healthy.Inc()
			m.Turnstile(Leased)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4, "ns/add")
}

// BenchmarkSample is the sampler's cost per tick with 1, 10 and 100 models
// whose windows are full (every sample evicts one). ns/model is one model's
// share of a tick; ns/model/s is that at two ticks a second.
func BenchmarkSample(b *testing.B) {
	for _, models := range []int{1, 10, 100} {
		b.Run("models="+strconv.Itoa(models), func(b *testing.B) {
			m, _ := New(nil, Options{})
			for i := 0; i < models; i++ {
				m.Model("m" + strconv.Itoa(i)).SetPermits(8)
			}
			for i := 0; i < WindowSamples; i++ {
				m.Sample()
			}
			b.ReportAllocs()
			for b.Loop() {
				m.Sample()
			}
			perModel := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(models)
			b.ReportMetric(perModel, "ns/model")
			b.ReportMetric(perModel*float64(time.Second/SampleInterval), "ns/model/s")
		})
	}
}
