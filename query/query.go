package query

import (
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/table"
)

// Result is the answer to a query: its rows, sorted by time and then by the
// group-by dimensions, and how they were grouped.
type Result struct {
	GroupBy  []string
	Bucketed bool // rows carry a time
	Rows     []Row
	Files    int   // files read
	RowsRead int64 // partial rows merged (those in the time range)
}

// Row is one merged group.
type Row struct {
	Time         time.Time // bucket start, UTC; zero when not bucketed
	Key          Key
	Requests     int64
	Errors       int64
	Streamed     int64
	Neurons      float64
	InputTokens  int64
	OutputTokens int64
	// Durations follows table.Durations: request, inference and queuing
	// time, then time to first token (streamed requests only).
	Durations [numDurations]Duration
}

// Duration summarises one latency measure of a group, in milliseconds.
type Duration struct {
	P50, P90, P99 float64 // from the merged sketch, within 1% relative error
	Mean          float64 // exact: sum / count
}

// ErrorRate is errors / requests, or 0 without requests.
func (r *Row) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// Run reads the inference files of o.Dir whose partitions meet the time
// range, merges their rows by bucket and key, and returns the sorted result.
// Without grouping and buckets it always returns exactly one row (zeros when
// nothing is in range). A directory with no inference file at all is an
// error wrapping ErrNoData; a file that cannot be read is a *CorruptError.
func Run(o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	files, err := inferenceFiles(o.Dir, o.From, o.To, log)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		found, err := anyInferenceFile(o.Dir)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, noDataError("no inference files under " + table.Inference.Dir(o.Dir))
		}
	}
	m, err := mergeFiles(&o, files)
	if err != nil {
		return nil, err
	}
	if m.rows == 0 {
		log.Warn("no rows in the time range", zap.String("dir", o.Dir), zap.Int("files_read", len(files)))
	}
	res := &Result{GroupBy: o.GroupBy, Bucketed: o.Bucket > 0, Rows: m.result(o.GroupBy), Files: len(files), RowsRead: m.rows}
	if len(res.Rows) == 0 && len(o.GroupBy) == 0 && o.Bucket == 0 {
		res.Rows = []Row{{}}
	}
	return res, nil
}
