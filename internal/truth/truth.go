// Package truth is loadgen's --truth file: what a simulated fleet's
// emitters report as sent, per model and in all, and their final stats.
// loadgen writes it and the tests, the demo and the benchmarks read it with
// these same types, so the writer and its readers cannot drift apart.
package truth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/readout-dev/readout/emitter"
)

// Totals are the additive measures the truth file and `readout query` both
// report.
type Totals struct {
	Requests     uint64  `json:"requests"`
	Errors       uint64  `json:"errors"`
	Neurons      float64 `json:"neurons"`
	InputTokens  uint64  `json:"input_tokens"`
	OutputTokens uint64  `json:"output_tokens"`
	Streamed     uint64  `json:"streamed"`
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	t.Neurons += o.Neurons
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.Streamed += o.Streamed
}

// File is the --truth file.
type File struct {
	Note     string            `json:"note"`
	Seed     uint64            `json:"seed"`
	Events   int               `json:"events"`
	Total    Totals            `json:"total"`
	ByModel  map[string]Totals `json:"by_model"`
	Emitter  StatsSum          `json:"emitter"`
	Emitters []emitter.Stats   `json:"emitters"`
	// Streams is set when loadgen ran a fleet of model instances
	// (--streams); nil otherwise.
	Streams *Streams `json:"streams,omitempty"`
}

// StatsSum is the file's "emitter" object: the fleet's final stats added
// up.
type StatsSum struct {
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

// SumStats adds up the emitters' final stats.
func SumStats(all []emitter.Stats) StatsSum {
	s := StatsSum{Emitters: len(all)}
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

// Read parses a truth file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	var t File
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse truth %s: %w", path, err)
	}
	return &t, nil
}

// Write writes t to path atomically (temp file, rename), so a reader never
// sees half a file.
func Write(path string, t *File) error {
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
