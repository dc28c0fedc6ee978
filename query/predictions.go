package query

import (
	"fmt"
	"time"

	"github.com/readout-dev/readout/sketch"
)

// predictionColumns is the part of table.PredictionRow a query reads. Its
// tags must match the table's; TestProjectionsMatchTables checks.
type predictionColumns struct {
	WindowStart time.Time `parquet:"window_start,timestamp(millisecond)"`

	DeploymentKey string `parquet:"deployment_key,dict"`
	Version       string `parquet:"version,dict"`
	Status        string `parquet:"status,dict"`
	ErrorCode     string `parquet:"error_code,dict"`

	Predictions  int64 `parquet:"predictions"`
	Succeeded    int64 `parquet:"succeeded"`
	Failed       int64 `parquet:"failed"`
	Canceled     int64 `parquet:"canceled"`
	Aborted      int64 `parquet:"aborted"`
	InputTokens  int64 `parquet:"input_tokens"`
	OutputTokens int64 `parquet:"output_tokens"`
	Images       int64 `parquet:"images"`

	Started             int64  `parquet:"started"`
	PredictTimeNs       int64  `parquet:"predict_time_ns"`
	PredictTimeMsSketch []byte `parquet:"predict_time_ms_sketch"`
}

// PredictionRow is one group of predictions.
type PredictionRow struct {
	Group
	Predictions, Succeeded, Failed, Canceled, Aborted int64
	InputTokens, OutputTokens, Images                 int64
	// PredictTimeMs is completed minus started over the predictions that
	// started: quantiles from the merged sketches, the mean exact
	// (predict_time_ns / started).
	PredictTimeMs Duration
}

type predictionSums struct {
	predictions, succeeded, failed, canceled, aborted int64
	inputTokens, outputTokens, images                 int64
	started                                           int64
	predictTime                                       wideSum // ns
	sketch                                            *sketch.Sketch
}

var predictionTable = streamTable[predictionColumns, predictionSums]{
	window: func(r *predictionColumns) time.Time { return r.WindowStart },
	dims: func(r *predictionColumns) dimValues {
		return dimValues{r.DeploymentKey, r.Version, r.Status, r.ErrorCode}
	},
	add: func(g *predictionSums, r *predictionColumns) error {
		g.predictions += r.Predictions
		g.succeeded += r.Succeeded
		g.failed += r.Failed
		g.canceled += r.Canceled
		g.aborted += r.Aborted
		g.inputTokens += r.InputTokens
		g.outputTokens += r.OutputTokens
		g.images += r.Images
		g.started += r.Started
		g.predictTime.add(r.PredictTimeNs)
		return mergeSketchBinary(&g.sketch, r.PredictTimeMsSketch, "predict_time_ms_sketch")
	},
	merge: func(g, o *predictionSums) error {
		g.predictions += o.predictions
		g.succeeded += o.succeeded
		g.failed += o.failed
		g.canceled += o.canceled
		g.aborted += o.aborted
		g.inputTokens += o.inputTokens
		g.outputTokens += o.outputTokens
		g.images += o.images
		g.started += o.started
		g.predictTime.addSum(o.predictTime)
		return mergeSketch(&g.sketch, o.sketch, "predict_time_ms")
	},
}

func runPredictions(r *request) (*Result, error) {
	groups, rows, skipped, err := mergeStream(&predictionTable, r)
	if err != nil {
		return nil, err
	}
	res := &Result{Predictions: make([]PredictionRow, len(groups)), RowsRead: rows, RowGroupsSkipped: skipped}
	for i, g := range groups {
		s := g.sums
		res.Predictions[i] = PredictionRow{
			Group:         g.Group,
			Predictions:   s.predictions,
			Succeeded:     s.succeeded,
			Failed:        s.failed,
			Canceled:      s.canceled,
			Aborted:       s.aborted,
			InputTokens:   s.inputTokens,
			OutputTokens:  s.outputTokens,
			Images:        s.images,
			PredictTimeMs: sketchDuration(s.sketch, ratio(s.predictTime.float(), float64(s.started))/1e6),
		}
	}
	return res, nil
}

// predictionOutput lists the fields of the answer: design.md's keys.
func predictionOutput(res *Result) []column[PredictionRow] {
	type R = PredictionRow
	cols := append(groupColumns(res, func(r *R) *Group { return &r.Group }),
		column[R]{"predictions", func(r *R) any { return r.Predictions }},
		column[R]{"succeeded", func(r *R) any { return r.Succeeded }},
		column[R]{"failed", func(r *R) any { return r.Failed }},
		column[R]{"canceled", func(r *R) any { return r.Canceled }},
		column[R]{"aborted", func(r *R) any { return r.Aborted }},
		column[R]{"input_tokens", func(r *R) any { return r.InputTokens }},
		column[R]{"output_tokens", func(r *R) any { return r.OutputTokens }},
		column[R]{"images", func(r *R) any { return r.Images }},
	)
	return append(cols, durationColumns("predict_time_ms", func(r *R) *Duration { return &r.PredictTimeMs })...)
}

// mergeSketchBinary merges an encoded sketch (empty: no values) into *s,
// making *s on first use; name is the column, for errors.
func mergeSketchBinary(s **sketch.Sketch, b []byte, name string) error {
	if len(b) == 0 {
		return nil
	}
	if *s == nil {
		*s = sketch.New()
	}
	if err := (*s).MergeBinary(b); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// mergeSketch merges o into *s; either may be nil (no values).
func mergeSketch(s **sketch.Sketch, o *sketch.Sketch, name string) error {
	switch {
	case o == nil:
	case *s == nil:
		*s = o
	default:
		if err := (*s).Merge(o); err != nil {
			return fmt.Errorf("merge %s sketches: %w", name, err)
		}
	}
	return nil
}

// sketchDuration is a Duration with quantiles from s (0 when nil) and the
// given mean.
func sketchDuration(s *sketch.Sketch, mean float64) Duration {
	d := Duration{Mean: mean}
	if s != nil {
		d.P50, d.P90, d.P99 = s.Quantile(0.5), s.Quantile(0.9), s.Quantile(0.99)
	}
	return d
}
