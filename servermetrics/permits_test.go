package servermetrics

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// driver moves one model's handle to a given state through its public
// methods, as a server would.
type driver struct {
	p    *Model
	used int
}

func (d *driver) set(total, used, queue int) {
	d.p.SetPermits(total) // keeps the permits in use as they are
	for ; d.used < used; d.used++ {
		d.p.Acquire()
	}
	for ; d.used > used; d.used-- {
		d.p.Release()
	}
	d.p.SetQueueLen(queue)
}

// modelGauges reads one model's four gauges from a gather.
func modelGauges(t *testing.T, reg *prometheus.Registry, id string) (full, total, used, queue float64, ok bool) {
	t.Helper()
	v := gather(t, reg)
	lbl := "{model_id=" + id + "}"
	full, ok = v["readout_server_full_fraction"+lbl]
	return full, v["readout_server_total_permits"+lbl], v["readout_server_mean_used_permits"+lbl], v["readout_server_mean_queue_size"+lbl], ok
}

func checkModel(t *testing.T, reg *prometheus.Registry, id string, full, total, used, queue float64) {
	t.Helper()
	gf, gt, gu, gq, ok := modelGauges(t, reg, id)
	if !ok {
		t.Fatalf("model %q: no gauges", id)
	}
	if gf != full || gt != total || gu != used || gq != queue {
		t.Fatalf("model %q: unexpected gauges; got full %v total %v used %v queue %v; want %v %v %v %v",
			id, gf, gt, gu, gq, full, total, used, queue)
	}
}

// TestPermitWindow drives a known timeline through the sampler, one Sample
// at a time, and checks every gauge exactly: while the window fills, when it
// is full, and as it rolls.
func TestPermitWindow(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{p: m.Model("llama")}
	if _, _, _, _, ok := modelGauges(t, reg, "llama"); ok {
		t.Fatal("a model without a sample has gauges")
	}

	// Sample i: 4 permits, i%5 of them in use (so every fifth sample is
	// full), a queue of i%3.
	for i := 0; i < 3; i++ {
		d.set(4, i%5, i%3)
		m.Sample()
	}
	// Three samples: used 0,1,2; queue 0,1,2; none full.
	checkModel(t, reg, "llama", 0, 4, 1, 1)

	for i := 3; i < WindowSamples; i++ {
		d.set(4, i%5, i%3)
		m.Sample()
	}
	// 600 samples: 120 full; used sums to 120*(0+1+2+3+4) = 1200; queue to
	// 200*(0+1+2) = 600.
	checkModel(t, reg, "llama", 0.2, 4, 2, 1)

	// Sample 601 evicts sample 1 (used 0, queue 0, not full): 8 permits all
	// in use, a queue of 10.
	d.set(8, 8, 10)
	m.Sample()
	checkModel(t, reg, "llama", 121.0/600, 8, 1208.0/600, 610.0/600)

	// Sample 602 evicts sample 2 (used 1, queue 1): 8 permits, none in use.
	d.set(8, 0, 0)
	m.Sample()
	checkModel(t, reg, "llama", 121.0/600, 8, 1207.0/600, 609.0/600)

	// 600 more idle samples replace the whole window.
	for i := 0; i < WindowSamples; i++ {
		m.Sample()
	}
	checkModel(t, reg, "llama", 0, 8, 0, 0)
}

// TestPermitWindowMatchesReference compares the running sums with the
// window recomputed from scratch after every sample of a random timeline,
// out-of-range values included, over three window lengths.
func TestPermitWindowMatchesReference(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Model("m")
	rng := rand.New(rand.NewPCG(1, 2))
	var history []sample
	for i := 0; i < 3*WindowSamples; i++ {
		// Raw values a confused server might leave: more available than
		// total, a negative queue, no permits at all.
		total := int64(rng.IntN(6))
		avail := int64(rng.IntN(8)) - 1
		queue := int64(rng.IntN(12)) - 2
		p.total.Store(total)
		p.available.Store(avail)
		p.queue.Store(queue)
		m.Sample()

		a := min(max(avail, 0), total)
		history = append(history, sample{total: total, used: total - a, queue: max(queue, 0)})
		win := history[max(0, len(history)-WindowSamples):]
		var full, used, q int64
		for _, s := range win {
			if s.used == s.total {
				full++
			}
			used += s.used
			q += s.queue
		}
		if i%97 != 0 && i != 3*WindowSamples-1 {
			continue // gathering every time would make the test slow
		}
		n := float64(len(win))
		checkModel(t, reg, "m", float64(full)/n, float64(total), float64(used)/n, float64(q)/n)
	}
}

// TestRunSamplesOnTicks drives Run through Options.Ticks: one sample at
// start, one per tick, none after Close.
func TestRunSamplesOnTicks(t *testing.T) {
	defer goleak.VerifyNone(t)
	ticks := make(chan time.Time) // unbuffered: a send returns once Run has the tick
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{Ticks: ticks})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{p: m.Model("a")}
	d.set(2, 2, 3) // the state is left alone while Run samples
	done := make(chan struct{})
	go func() { m.Run(context.Background()); close(done) }()
	for i := 0; i < 3; i++ {
		ticks <- time.Time{}
	}
	m.Close() // waits for the last tick's sample
	<-done
	samples := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return d.p.w.n
	}
	if got := samples(); got != 4 {
		t.Fatalf("unexpected samples; got %d; want 4 (one at start, one per tick)", got)
	}
	checkModel(t, reg, "a", 1, 2, 2, 3)

	m.Close() // twice is fine
	m.Run(context.Background())
	if got := samples(); got != 4 {
		t.Fatalf("Run after Close sampled; got %d samples; want 4", got)
	}
}

// TestRunEndsWithContext checks that Run returns when its context ends and
// that Close is safe without Run.
func TestRunEndsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	m, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	m.Close()

	m2, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
}
