package query

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Result is the answer to a query: its rows, sorted by time and then by the
// group-by dimensions, and how they were grouped. The rows are in the slice
// of the table read; the others are nil.
type Result struct {
	Table    string // the table read
	GroupBy  []string
	Bucketed bool // rows carry a time

	Rows           []Row              // inference
	InstanceState  []InstanceStateRow // instance_state
	Predictions    []PredictionRow    // predictions
	Downloads      []DownloadRow      // downloads
	SetupRuns      []SetupRun         // setup_runs without GroupBy: the runs themselves
	SetupRunGroups []SetupRunGroup    // setup_runs with GroupBy
	Presences      []Presence         // lifecycle without GroupBy: the presences
	PresenceGroups []PresenceGroup    // lifecycle with GroupBy

	Files    int   // files read
	RowsRead int64 // rows in the time range that met Where (partial rows merged, or runs)
	// RowGroupsSkipped counts the row groups that Where ruled out from
	// their column statistics alone, without decoding them.
	RowGroupsSkipped int
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

// Run reads the files of o.Table whose partitions meet the time range,
// keeps the rows that meet o.Where, merges them by bucket and key, and
// returns the sorted result. Without grouping and buckets an additive table
// always gives exactly one row (zeros when nothing is in range). A
// directory with no file of the table at all is an error wrapping
// ErrNoData; a file that cannot be read is a *CorruptError.
func Run(o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	q := lookupTable(o.Table)
	where, err := compileWhere(q, o.Where)
	if err != nil {
		return nil, err
	}
	files, err := partitionFiles(q.desc, o.Dir, o.From, o.To, log)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		found, err := anyFile(q.desc, o.Dir)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, noDataError(fmt.Sprintf("no %s files under %s", q.desc.Name, q.desc.Dir(o.Dir)))
		}
	}
	res, err := q.run(&request{Options: &o, table: q, where: where, files: files})
	if err != nil {
		return nil, err
	}
	res.Table, res.GroupBy, res.Bucketed, res.Files = q.desc.Name, o.GroupBy, o.Bucket > 0, len(files)
	if res.RowsRead == 0 {
		msg := "no rows in the time range"
		if len(where) > 0 {
			msg += " meet --where"
		}
		log.Warn(msg, zap.String("table", q.desc.Name), zap.String("dir", o.Dir), zap.Int("files_read", len(files)))
	}
	return res, nil
}

// request is a query being run: its options, its table, its checked
// conditions and the files to read (those of the table in the time range).
type request struct {
	*Options
	table *queryTable
	where []cond
	files []string
}

// runInference merges inference rows.
func runInference(r *request) (*Result, error) {
	m, skipped, err := mergeFiles(r)
	if err != nil {
		return nil, err
	}
	res := &Result{Rows: m.result(r.GroupBy), RowsRead: m.rows, RowGroupsSkipped: skipped}
	if len(res.Rows) == 0 && len(r.GroupBy) == 0 && r.Bucket == 0 {
		res.Rows = []Row{{}}
	}
	return res, nil
}
