package query

import (
	"fmt"
	"slices"
	"time"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

// Key holds the dimension values of one result row; dimensions that are not
// grouped by stay at their zero value.
type Key struct {
	ModelID       string
	AccountID     uint64
	ColoID        uint32
	RequestSource string
	ErrorCode     uint32
	Backend       string
}

// groupKey identifies a group: its bucket start (Unix ms, 0 without
// buckets) and its dimension values.
type groupKey struct {
	bucket int64
	key    Key
}

// group accumulates the partial rows of one key and bucket. Counters and sums
// add up; sketches merge, so quantiles of the group are those of the union of
// its values (never an average of the rows' percentiles).
type group struct {
	requests, errors, streamed int64
	inputTokens, outputTokens  int64
	neurons                    float64
	sums                       [numDurations]float64
	sketches                   [numDurations]*sketch.Sketch
}

// numDurations is len(table.Durations): request, inference, queuing time and
// time to first token, in that order.
const numDurations = 4

// merger folds rows into groups. Only the group map is held, never the rows.
type merger struct {
	from, to time.Time
	bucket   time.Duration
	dims     dimMask
	// A row is kept when its dimensions in whereDims equal whereKey's.
	whereDims dimMask
	whereKey  Key
	groups    map[groupKey]*group
	rows      int64 // rows read in range and kept
}

func newMerger(o *Options, where []cond) *merger {
	m := &merger{from: o.From, to: o.To, bucket: o.Bucket, dims: maskOf(o.GroupBy), groups: make(map[groupKey]*group)}
	m.whereDims, m.whereKey = whereKey(where)
	return m
}

// add folds one file's batch of rows; path names the file in errors.
func (m *merger) add(path string, rows []inferenceColumns) error {
	for i := range rows {
		r := &rows[i]
		if !inRange(r.WindowStart, m.from, m.to) || m.whereDims != 0 && m.whereDims.key(r) != m.whereKey {
			continue
		}
		m.rows++
		gk := groupKey{key: m.dims.key(r)}
		if m.bucket > 0 {
			gk.bucket = r.WindowStart.UTC().Truncate(m.bucket).UnixMilli()
		}
		g := m.groups[gk]
		if g == nil {
			g = &group{}
			m.groups[gk] = g
		}
		if err := g.add(r); err != nil {
			return &CorruptError{Path: path, Err: err}
		}
	}
	return nil
}

func (g *group) add(r *inferenceColumns) error {
	g.requests += r.Requests
	g.errors += r.Errors
	g.streamed += r.Streamed
	g.inputTokens += r.InputTokens
	g.outputTokens += r.OutputTokens
	g.neurons += r.Neurons
	sums := [numDurations]float64{r.RequestTimeMsSum, r.InferenceTimeMsSum, r.QueuingTimeMsSum, r.TTFTMsSum}
	encoded := [numDurations][]byte{r.RequestTimeMsSketch, r.InferenceTimeMsSketch, r.QueuingTimeMsSketch, r.TTFTMsSketch}
	for i := range numDurations {
		g.sums[i] += sums[i]
		if len(encoded[i]) == 0 {
			continue
		}
		if g.sketches[i] == nil {
			g.sketches[i] = sketch.New()
		}
		if err := g.sketches[i].MergeBinary(encoded[i]); err != nil {
			return fmt.Errorf("%s_sketch: %w", table.Durations[i], err)
		}
	}
	return nil
}

// absorb moves the groups of o into m; o must not be used afterwards.
func (m *merger) absorb(o *merger) error {
	m.rows += o.rows
	for gk, og := range o.groups {
		g := m.groups[gk]
		if g == nil {
			m.groups[gk] = og
			continue
		}
		if err := g.merge(og); err != nil {
			return err
		}
	}
	return nil
}

func (g *group) merge(o *group) error {
	g.requests += o.requests
	g.errors += o.errors
	g.streamed += o.streamed
	g.inputTokens += o.inputTokens
	g.outputTokens += o.outputTokens
	g.neurons += o.neurons
	for i := range numDurations {
		g.sums[i] += o.sums[i]
		switch {
		case o.sketches[i] == nil:
		case g.sketches[i] == nil:
			g.sketches[i] = o.sketches[i]
		default:
			if err := g.sketches[i].Merge(o.sketches[i]); err != nil {
				return fmt.Errorf("merge %s sketches: %w", table.Durations[i], err)
			}
		}
	}
	return nil
}

// result turns the groups into sorted rows: by time, then by the group-by
// dimensions in the order given.
func (m *merger) result(groupBy []string) []Row {
	out := make([]Row, 0, len(m.groups))
	for gk, g := range m.groups {
		out = append(out, g.row(gk, m.bucket > 0))
	}
	slices.SortFunc(out, func(a, b Row) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		for _, d := range groupBy {
			if c := compareDim(d, &a.Key, &b.Key); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

func (g *group) row(gk groupKey, bucketed bool) Row {
	r := Row{
		Key:          gk.key,
		Requests:     g.requests,
		Errors:       g.errors,
		Streamed:     g.streamed,
		Neurons:      g.neurons,
		InputTokens:  g.inputTokens,
		OutputTokens: g.outputTokens,
	}
	if bucketed {
		r.Time = time.UnixMilli(gk.bucket).UTC()
	}
	for i := range numDurations {
		// Every request has the first three durations; only streamed ones
		// have a time to first token.
		n := g.requests
		if i == numDurations-1 {
			n = g.streamed
		}
		d := &r.Durations[i]
		if n > 0 {
			d.Mean = g.sums[i] / float64(n)
		}
		if s := g.sketches[i]; s != nil {
			d.P50, d.P90, d.P99 = s.Quantile(0.5), s.Quantile(0.9), s.Quantile(0.99)
		}
	}
	return r
}
