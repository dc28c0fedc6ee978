package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/readout-dev/readout/emitter"
)

// totals are the sums a query over the pipeline's output must reproduce.
type totals struct {
	Requests     uint64  `json:"requests"`
	Errors       uint64  `json:"errors"`
	Neurons      float64 `json:"neurons"`
	InputTokens  uint64  `json:"input_tokens"`
	OutputTokens uint64  `json:"output_tokens"`
	Streamed     uint64  `json:"streamed"`
}

// contribution is what one accepted event adds to the totals.
type contribution struct {
	model    uint8
	failed   bool
	streamed bool
	neurons  float64
	in, out  uint32
}

func (t *totals) add(c *contribution) {
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
	byModel []totals
	pending []contribution // a FIFO ring, oldest at head
	head, n int
}

func newTally(bufferSize int) *tally {
	return &tally{byModel: make([]totals, len(models)), pending: make([]contribution, bufferSize)}
}

func (t *tally) accepted(c contribution) {
	if t.n == len(t.pending) {
		t.byModel[t.pending[t.head].model].add(&t.pending[t.head])
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
		t.byModel[c.model].add(c)
	}
	t.n = 0
	return nil
}

// truth is the --truth file.
type truth struct {
	Note     string            `json:"note"`
	Seed     uint64            `json:"seed"`
	Events   int               `json:"events"`
	Total    totals            `json:"total"`
	ByModel  map[string]totals `json:"by_model"`
	Emitter  statsSum          `json:"emitter"`
	Emitters []emitter.Stats   `json:"emitters"`
}

// statsSum adds up the emitters' final stats.
type statsSum struct {
	Emitters        int                `json:"emitters"`
	Emitted         uint64             `json:"emitted"`
	Sent            uint64             `json:"sent"`
	Dropped         uint64             `json:"dropped"`
	Queued          uint64             `json:"queued"`
	DroppedByReason emitter.DropCounts `json:"dropped_by_reason"`
	Replayed        uint64             `json:"replayed"`
	ConnectErrors   uint64             `json:"connect_errors"`
	WriteErrors     uint64             `json:"write_errors"`
	Unacked         uint64             `json:"unacked"`
	ClosedAcked     int                `json:"closed_acked"`
}

func sumStats(all []emitter.Stats) statsSum {
	s := statsSum{Emitters: len(all)}
	for _, e := range all {
		s.Emitted += e.Emitted
		s.Sent += e.Sent
		s.Dropped += e.Dropped
		s.Queued += e.Queued
		d, r := &s.DroppedByReason, e.DroppedByReason
		d.BufferFull += r.BufferFull
		d.Disconnected += r.Disconnected
		d.RingFull += r.RingFull
		d.TooLarge += r.TooLarge
		d.Invalid += r.Invalid
		d.Closed += r.Closed
		d.CloseTimeout += r.CloseTimeout
		s.Replayed += e.Replayed
		s.ConnectErrors += e.ConnectErrors
		s.WriteErrors += e.WriteErrors
		s.Unacked += e.Unacked
		if e.ClosedAcked {
			s.ClosedAcked++
		}
	}
	return s
}

// buildTruth merges the emitters' tallies in emitter order.
func buildTruth(seed uint64, events int, tallies []*tally, stats []emitter.Stats) *truth {
	t := &truth{
		Note: "counts cover only events the emitters report as sent; neurons are float64 sums " +
			"(in seq order per emitter and model), so compare them with a relative tolerance",
		Seed: seed, Events: events, ByModel: map[string]totals{},
		Emitter: sumStats(stats), Emitters: stats,
	}
	for _, tl := range tallies {
		for mi, m := range tl.byModel {
			if m.Requests == 0 {
				continue
			}
			b := t.ByModel[models[mi].id]
			b.Requests += m.Requests
			b.Errors += m.Errors
			b.Neurons += m.Neurons
			b.InputTokens += m.InputTokens
			b.OutputTokens += m.OutputTokens
			b.Streamed += m.Streamed
			t.ByModel[models[mi].id] = b
		}
	}
	for _, m := range models {
		b, ok := t.ByModel[m.id]
		if !ok {
			continue
		}
		t.Total.Requests += b.Requests
		t.Total.Errors += b.Errors
		t.Total.Neurons += b.Neurons
		t.Total.InputTokens += b.InputTokens
		t.Total.OutputTokens += b.OutputTokens
		t.Total.Streamed += b.Streamed
	}
	return t
}

// writeTruth writes t to path atomically (temp file, rename).
func writeTruth(path string, t *truth) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode truth: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".truth-*")
	if err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write truth: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	return nil
}
