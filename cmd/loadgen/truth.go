package main

import (
	"fmt"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/internal/truth"
)

// contribution is what one accepted event adds to the totals.
type contribution struct {
	model    uint8
	failed   bool
	streamed bool
	neurons  float64
	in, out  uint32
}

// add counts c in t.
func (c *contribution) add(t *truth.Totals) {
	t.Requests++
	if c.failed {
		t.Errors++
	}
	if c.streamed {
		t.Streamed++
	}
	t.Neurons += c.neurons
	t.InputTokens += uint64(c.in)
	t.OutputTokens += uint64(c.out)
}

// tally counts one emitter's events in seq order. An accepted event can
// still be dropped by Close (reason close_timeout) while it waits in the
// emitter's buffer, and those are always the newest accepted ones; so the
// newest bufferSize contributions are held back until Close says how many
// of them were written.
type tally struct {
	byModel []truth.Totals
	pending []contribution // a FIFO ring, oldest at head
	head, n int
}

func newTally(bufferSize int) *tally {
	return &tally{byModel: make([]truth.Totals, len(models)), pending: make([]contribution, bufferSize)}
}

func (t *tally) accepted(c contribution) {
	if t.n == len(t.pending) {
		t.pending[t.head].add(&t.byModel[t.pending[t.head].model])
		t.pending[t.head] = c
		t.head = (t.head + 1) % len(t.pending)
		return
	}
	t.pending[(t.head+t.n)%len(t.pending)] = c
	t.n++
}

// settle counts the held-back events except the newest dropped ones.
func (t *tally) settle(dropped uint64) error {
	if dropped > uint64(t.n) {
		return fmt.Errorf("emitter dropped %d buffered events at close, but only %d were held", dropped, t.n)
	}
	for i := 0; i < t.n-int(dropped); i++ {
		c := &t.pending[(t.head+i)%len(t.pending)]
		c.add(&t.byModel[c.model])
	}
	t.n = 0
	return nil
}

// buildTruth merges the emitters' tallies in emitter order.
func buildTruth(seed uint64, events int, tallies []*tally, stats []emitter.Stats) *truth.File {
	t := &truth.File{
		Note: "counts cover only events the emitters report as sent; neurons are float64 sums " +
			"(in seq order per emitter and model), so compare them with a relative tolerance",
		Seed: seed, Events: events, ByModel: map[string]truth.Totals{},
		Emitter: truth.SumStats(stats), Emitters: stats,
	}
	for _, tl := range tallies {
		for mi, m := range tl.byModel {
			if m.Requests == 0 {
				continue
			}
			b := t.ByModel[models[mi].id]
			b.Add(m)
			t.ByModel[models[mi].id] = b
		}
	}
	for _, m := range models {
		if b, ok := t.ByModel[m.id]; ok {
			t.Total.Add(b)
		}
	}
	return t
}
