package query

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// setupRunColumns is the part of table.SetupRunRow a query reads: all but
// the logs themselves, up to 20 KiB a run. Its tags must match the table's;
// TestProjectionsMatchTables checks.
type setupRunColumns struct {
	WindowStart time.Time `parquet:"window_start,timestamp(millisecond)"`

	InstanceID    string    `parquet:"instance_id"`
	DeploymentKey string    `parquet:"deployment_key,dict"`
	Status        string    `parquet:"status,dict"`
	ScheduledAt   time.Time `parquet:"scheduled_at,timestamp(microsecond)"`
	StartedAt     time.Time `parquet:"started_at,timestamp(microsecond)"`
	CompletedAt   time.Time `parquet:"completed_at,timestamp(microsecond)"`

	ScheduledToStartedMs float64 `parquet:"scheduled_to_started_ms"`
	ScheduledToReadyMs   float64 `parquet:"scheduled_to_ready_ms"`
	DurationMs           float64 `parquet:"duration_ms"`

	LogsBytes int64 `parquet:"logs_bytes"`
}

// SetupRun is one setup run, as the table holds it.
type SetupRun struct {
	InstanceID, DeploymentKey, Status string
	// StartedAt and CompletedAt are zero when the report lacked them.
	StartedAt, CompletedAt time.Time
	// Durations in ms; 0 when a time they need is missing.
	ScheduledToStartedMs, ScheduledToReadyMs, DurationMs float64
	LogsBytes                                            int64 // bytes of logs kept
}

// SetupRunGroup is one group of setup runs. Its quantiles are exact, by
// nearest rank: the q quantile of n values is the ceil(q × n)-th smallest
// (as DuckDB's quantile_disc), over the runs that have the times a
// duration needs.
type SetupRunGroup struct {
	Group
	Runs               int64
	DurationMs         Quantiles // completed minus started
	ScheduledToReadyMs Quantiles // completed minus scheduled
}

// Quantiles are the median and 99th percentile of a set of values; 0 for
// an empty set.
type Quantiles struct{ P50, P99 float64 }

// knownTime reports whether a time of a setup run was reported. A missing
// one is written as the zero time, which reads back before 1970 (parquet-go
// turns the zero time's microseconds into nanoseconds that overflow);
// every real time of a run is after 1970.
func knownTime(t time.Time) bool { return t.After(time.Unix(0, 0)) }

// setupRunSums holds the durations of a group's runs: runs are few (one per
// instance start), so quantiles are exact rather than sketched.
type setupRunSums struct {
	runs      int64
	durations []float64 // of the runs with a start time
	toReady   []float64 // of the runs with a scheduled time
}

var setupRunTable = streamTable[setupRunColumns, setupRunSums]{
	window: func(r *setupRunColumns) time.Time { return r.WindowStart },
	dims:   func(r *setupRunColumns) dimValues { return dimValues{r.DeploymentKey, r.Status} },
	add: func(g *setupRunSums, r *setupRunColumns) error {
		g.runs++
		if knownTime(r.StartedAt) && knownTime(r.CompletedAt) {
			g.durations = append(g.durations, r.DurationMs)
		}
		if knownTime(r.ScheduledAt) && knownTime(r.CompletedAt) {
			g.toReady = append(g.toReady, r.ScheduledToReadyMs)
		}
		return nil
	},
	merge: func(g, o *setupRunSums) error {
		g.runs += o.runs
		g.durations = append(g.durations, o.durations...)
		g.toReady = append(g.toReady, o.toReady...)
		return nil
	},
}

// exactQuantiles sorts values and returns their median and 99th
// percentile by nearest rank.
func exactQuantiles(values []float64) Quantiles {
	if len(values) == 0 {
		return Quantiles{}
	}
	slices.Sort(values)
	return Quantiles{P50: values[nearestRank(50, len(values))-1], P99: values[nearestRank(99, len(values))-1]}
}

// nearestRank is ceil(pct/100 × n), in integers so that no rounding moves
// it, and at least 1.
func nearestRank(pct, n int) int {
	return max(1, (pct*n+99)/100)
}

func runSetupRuns(r *request) (*Result, error) {
	if len(r.GroupBy) == 0 {
		return listSetupRuns(r)
	}
	groups, rows, skipped, err := mergeStream(&setupRunTable, r)
	if err != nil {
		return nil, err
	}
	res := &Result{SetupRunGroups: make([]SetupRunGroup, len(groups)), RowsRead: rows, RowGroupsSkipped: skipped}
	for i, g := range groups {
		res.SetupRunGroups[i] = SetupRunGroup{
			Group:              g.Group,
			Runs:               g.sums.runs,
			DurationMs:         exactQuantiles(g.sums.durations),
			ScheduledToReadyMs: exactQuantiles(g.sums.toReady),
		}
	}
	return res, nil
}

// setupRunList collects the runs in range that meet where.
type setupRunList struct {
	from, to time.Time
	where    []cond
	runs     []SetupRun
}

func (l *setupRunList) add(_ string, rows []setupRunColumns) error {
	for i := range rows {
		r := &rows[i]
		d := setupRunTable.dims(r)
		if !inRange(r.WindowStart, l.from, l.to) || !matches(&d, l.where) {
			continue
		}
		run := SetupRun{
			InstanceID: r.InstanceID, DeploymentKey: r.DeploymentKey, Status: r.Status,
			ScheduledToStartedMs: r.ScheduledToStartedMs, ScheduledToReadyMs: r.ScheduledToReadyMs, DurationMs: r.DurationMs,
			LogsBytes: r.LogsBytes,
		}
		if knownTime(r.StartedAt) {
			run.StartedAt = r.StartedAt.UTC()
		}
		if knownTime(r.CompletedAt) {
			run.CompletedAt = r.CompletedAt.UTC()
		}
		l.runs = append(l.runs, run)
	}
	return nil
}

// listSetupRuns answers a query without --group-by: the runs themselves,
// ordered by completion (then by instance, and so on, so that the order
// does not depend on how the files were read).
func listSetupRuns(r *request) (*Result, error) {
	lists, skipped, err := readFiles(r.files, r.Workers, rowGroupFilter(r.where), func() *setupRunList {
		return &setupRunList{from: r.From, to: r.To, where: r.where}
	})
	if err != nil {
		return nil, err
	}
	var runs []SetupRun
	for _, l := range lists {
		runs = append(runs, l.runs...)
	}
	slices.SortFunc(runs, compareSetupRuns)
	return &Result{SetupRuns: runs, RowsRead: int64(len(runs)), RowGroupsSkipped: skipped}, nil
}

func compareSetupRuns(a, b SetupRun) int {
	if c := a.CompletedAt.Compare(b.CompletedAt); c != 0 {
		return c
	}
	if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
		return c
	}
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c
	}
	if c := strings.Compare(a.DeploymentKey, b.DeploymentKey); c != 0 {
		return c
	}
	if c := strings.Compare(a.Status, b.Status); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.DurationMs, b.DurationMs), cmp.Compare(a.ScheduledToReadyMs, b.ScheduledToReadyMs),
		cmp.Compare(a.ScheduledToStartedMs, b.ScheduledToStartedMs), cmp.Compare(a.LogsBytes, b.LogsBytes))
}

// setupRunOutput lists the fields of a run: design.md's keys. A time the
// report lacked is null.
func setupRunOutput() []column[SetupRun] {
	type R = SetupRun
	return []column[R]{
		{"instance_id", func(r *R) any { return r.InstanceID }},
		{"deployment_key", func(r *R) any { return r.DeploymentKey }},
		{"status", func(r *R) any { return r.Status }},
		{"started_at", func(r *R) any { return rfc3339(r.StartedAt) }},
		{"completed_at", func(r *R) any { return rfc3339(r.CompletedAt) }},
		{"scheduled_to_started_ms", func(r *R) any { return r.ScheduledToStartedMs }},
		{"scheduled_to_ready_ms", func(r *R) any { return r.ScheduledToReadyMs }},
		{"duration_ms", func(r *R) any { return r.DurationMs }},
		{"logs_bytes", func(r *R) any { return r.LogsBytes }},
	}
}

// rfc3339 is t in RFC 3339 with as many fractional digits as it needs, or
// nil for the zero time.
func rfc3339(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// setupRunGroupOutput lists the fields of a group of runs: design.md's keys.
func setupRunGroupOutput(res *Result) []column[SetupRunGroup] {
	type R = SetupRunGroup
	return append(groupColumns(res, func(r *R) *Group { return &r.Group }),
		column[R]{"runs", func(r *R) any { return r.Runs }},
		column[R]{"duration_ms_p50", func(r *R) any { return r.DurationMs.P50 }},
		column[R]{"duration_ms_p99", func(r *R) any { return r.DurationMs.P99 }},
		column[R]{"scheduled_to_ready_ms_p50", func(r *R) any { return r.ScheduledToReadyMs.P50 }},
		column[R]{"scheduled_to_ready_ms_p99", func(r *R) any { return r.ScheduledToReadyMs.P99 }},
	)
}
