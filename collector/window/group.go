// Package window aggregates inference events into tumbling event-time
// windows keyed by the six query dimensions, into additive partial rows.
package window

import (
	"github.com/readout-dev/readout/wire"
	"math"
)

// The durations kept per group, in table.Durations order.
const (
	durRequest = iota
	durInference
	durQueuing
	durTTFT
	numDurations
)

// Group is the running aggregate of one key in one window.
type Group struct {
	Requests     int64
	Errors       int64
	Streamed     int64
	Neurons      float64
	InputTokens  int64
	OutputTokens int64
	QueueMax     int64
	QueueSum     int64
	Sums         [numDurations]float64
	Bins         [numDurations]bins
}

// usToMs converts the wire's microseconds to the table's milliseconds.
func usToMs(us uint64) float64 { return float64(us) / 1000 }

func (g *Group) addDuration(d int, ms float64) {
	g.Sums[d] += ms
	g.Bins[d].add(ms)
}

// add folds one event into g. neurons is already sanitised.
func (g *Group) add(v *wire.Inference, neurons float64) {
	g.Requests++
	if v.ErrorCode != 0 {
		g.Errors++
	}
	g.Neurons += neurons
	g.InputTokens += int64(v.InputTokens)
	g.OutputTokens += int64(v.OutputTokens)
	q := int64(v.LocalQueueSize)
	g.QueueSum += q
	if q > g.QueueMax {
		g.QueueMax = q
	}
	g.addDuration(durRequest, usToMs(v.RequestTimeUs))
	g.addDuration(durInference, usToMs(v.InferenceTimeUs))
	g.addDuration(durQueuing, usToMs(v.QueuingTimeUs))
	if v.Streamed {
		g.Streamed++
		g.addDuration(durTTFT, usToMs(v.TimeToFirstTokenUs))
	}
}

// SanitizeNeurons maps values that cannot be a cost (NaN, infinities,
// negatives) to 0 and reports whether it changed v.
func SanitizeNeurons(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, true
	}
	return v, false
}
