package servermetrics

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// The permit buffer's shape, fixed by the contract: 600 samples, one every
// 500 ms, make a five-minute window.
const (
	SampleInterval = 500 * time.Millisecond
	WindowSamples  = 600
)

// Model is one model's permits and queue, as the server reports them on the
// request path: a few atomics that the sampler reads every SampleInterval.
// Its methods only record; they never wait for a permit (the server's own
// semaphore does that).
type Model struct {
	id                      string // the label value
	total, available, queue atomic.Int64

	w window // guarded by Metrics.mu
}

// Model returns the handle of the model id, creating it on first use.
// Every model has a window of 600 samples (about 15 KB) and costs one sample
// per tick: ids should be the models a server serves, not values from
// requests.
func (m *Metrics) Model(id string) *Model {
	if p, ok := (*m.models.Load())[id]; ok {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.models.Load()
	if p, ok := old[id]; ok {
		return p
	}
	v := label(id)
	p, ok := m.modelByID[v]
	if !ok {
		p = &Model{id: v}
		m.modelByID[v] = p
		m.modelList = append(m.modelList, p)
	}
	next := make(map[string]*Model, len(old)+1)
	for k, q := range old {
		next[k] = q
	}
	next[id] = p
	m.models.Store(&next)
	return p
}

// SetPermits sets the model's total permits. The permits it adds are
// available, and those it takes away are taken from the available ones.
func (p *Model) SetPermits(total int) {
	old := p.total.Swap(int64(total))
	p.available.Add(int64(total) - old)
}

// Acquire records that a request took one permit.
func (p *Model) Acquire() { p.available.Add(-1) }

// Release records that a request gave its permit back.
func (p *Model) Release() { p.available.Add(1) }

// Enqueue records that a request joined the model's queue.
func (p *Model) Enqueue() { p.queue.Add(1) }

// Dequeue records that a request left the model's queue.
func (p *Model) Dequeue() { p.queue.Add(-1) }

// SetQueueLen sets the model's queue size, for a server whose queue knows
// its length (in place of Enqueue and Dequeue).
func (p *Model) SetQueueLen(n int) { p.queue.Store(int64(n)) }

// read takes one sample of the model's atomics.
func (p *Model) read() sample {
	total := clamp(p.total.Load(), 0, math.MaxInt32)
	available := clamp(p.available.Load(), 0, total)
	return sample{total: total, used: total - available, queue: clamp(p.queue.Load(), 0, math.MaxInt32)}
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

type sample struct{ total, used, queue int64 }

// full reports whether no permit was available.
func (s sample) full() bool { return s.used == s.total }

// window is a ring of the last WindowSamples samples and their sums.
type window struct {
	ring              [WindowSamples]sample
	next, n           int   // where the next sample goes; samples held
	full, used, queue int64 // over the samples held
}

// add puts s in the window, evicting the oldest sample once it is full.
func (w *window) add(s sample) {
	if w.n == len(w.ring) {
		w.drop(w.ring[w.next])
	} else {
		w.n++
	}
	w.ring[w.next] = s
	w.next = (w.next + 1) % len(w.ring)
	if s.full() {
		w.full++
	}
	w.used += s.used
	w.queue += s.queue
}

func (w *window) drop(s sample) {
	if s.full() {
		w.full--
	}
	w.used -= s.used
	w.queue -= s.queue
}

// latest returns the newest sample. The window must hold one.
func (w *window) latest() sample { return w.ring[(w.next+len(w.ring)-1)%len(w.ring)] }

// Sample takes one sample of every model into its window. Run calls it every
// SampleInterval; a test may call it in Run's place to drive the windows
// sample by sample.
func (m *Metrics) Sample() {
	m.mu.Lock()
	for _, p := range m.modelList {
		p.w.add(p.read())
	}
	m.mu.Unlock()
}

// Run samples every model at once, then every SampleInterval (or on every
// value of Options.Ticks), until ctx ends or Close is called. A late tick is
// one sample late, not two samples: the window counts samples, not time.
func (m *Metrics) Run(ctx context.Context) {
	m.runMu.Lock()
	if m.closed {
		m.runMu.Unlock()
		return
	}
	m.runs.Add(1) // under runMu, so Close's Wait cannot miss it
	m.runMu.Unlock()
	defer m.runs.Done()

	ticks := m.ticks
	if ticks == nil {
		t := time.NewTicker(SampleInterval)
		defer t.Stop()
		ticks = t.C
	}
	m.Sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-ticks:
			m.Sample()
		}
	}
}

// Close ends Run and waits for it to return; Run called after Close returns
// at once. Close is safe without Run and more than once. The metrics stay
// registered and keep counting; the windows keep their last samples.
func (m *Metrics) Close() {
	m.runMu.Lock()
	if m.closed {
		m.runMu.Unlock()
		return
	}
	m.closed = true
	m.runMu.Unlock()
	close(m.stop)
	m.runs.Wait()
}
