package window

import (
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// Rows returns the window's groups as table rows, one per key. width is the
// window width written in window_seconds.
func (w *Window) Rows(width time.Duration) []table.InferenceRow {
	rows := make([]table.InferenceRow, len(w.groups))
	start := time.Unix(0, w.Start).UTC()
	for i := range w.groups {
		g, k, r := &w.groups[i], &w.keys[i], &rows[i]
		r.WindowStart = start
		r.WindowSeconds = int32(width / time.Second)
		r.ModelID = k.ModelID
		r.AccountID = k.AccountID
		r.ColoID = k.ColoID
		if k.Source != overflowSource {
			r.RequestSource = wire.RequestSource(k.Source).String()
		}
		r.ErrorCode = k.ErrorCode
		r.Backend = k.Backend
		r.Requests = g.Requests
		r.Errors = g.Errors
		r.Streamed = g.Streamed
		r.Neurons = g.Neurons
		r.InputTokens = g.InputTokens
		r.OutputTokens = g.OutputTokens
		r.LocalQueueSizeMax = g.QueueMax
		r.LocalQueueSizeSum = g.QueueSum
		fill(&r.RequestTimeMsSum, &r.RequestTimeMsP50, &r.RequestTimeMsP90, &r.RequestTimeMsP99, &r.RequestTimeMsMean, &r.RequestTimeMsSketch, g, durRequest, g.Requests)
		fill(&r.InferenceTimeMsSum, &r.InferenceTimeMsP50, &r.InferenceTimeMsP90, &r.InferenceTimeMsP99, &r.InferenceTimeMsMean, &r.InferenceTimeMsSketch, g, durInference, g.Requests)
		fill(&r.QueuingTimeMsSum, &r.QueuingTimeMsP50, &r.QueuingTimeMsP90, &r.QueuingTimeMsP99, &r.QueuingTimeMsMean, &r.QueuingTimeMsSketch, g, durQueuing, g.Requests)
		fill(&r.TTFTMsSum, &r.TTFTMsP50, &r.TTFTMsP90, &r.TTFTMsP99, &r.TTFTMsMean, &r.TTFTMsSketch, g, durTTFT, g.Streamed)
	}
	return rows
}

// fill writes one duration's columns: the row's own quantiles and mean, for
// readers that know nothing of sketches, and the sketch for merging.
func fill(sum, p50, p90, p99, mean *float64, enc *[]byte, g *Group, d int, n int64) {
	*sum = g.Sums[d]
	fillSketch(&g.Bins[d], g.Sums[d], n, p50, p90, p99, mean, enc)
}
