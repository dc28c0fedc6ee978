package query

import "time"

// instanceStateColumns is the part of table.InstanceStateRow a query reads.
// Its tags must match the table's; TestProjectionsMatchTables checks.
type instanceStateColumns struct {
	WindowStart time.Time `parquet:"window_start,timestamp(millisecond)"`

	DeploymentKey string `parquet:"deployment_key,dict"`
	Hardware      string `parquet:"hardware,dict"`
	ComputeUnit   string `parquet:"compute_unit,dict"`
	Version       string `parquet:"version,dict"`

	Reports       int64 `parquet:"reports"`
	Instances     int64 `parquet:"instances"`
	ActiveNs      int64 `parquet:"active_ns"`
	BootNs        int64 `parquet:"boot_ns"`
	IdleNs        int64 `parquet:"idle_ns"`
	DurationNs    int64 `parquet:"duration_ns"`
	ConcurrencyNs int64 `parquet:"concurrency_ns"`
}

// InstanceStateRow is one group of instance-state reports.
type InstanceStateRow struct {
	Group
	Reports int64
	// Instances adds up the rows' distinct instance counts: an upper
	// bound of the distinct instances in the group, since an instance that
	// reports in several windows (or flushes) is counted in each.
	Instances int64
	// Seconds in each state, and the reports' intervals: sums over the
	// group's reports.
	ActiveS, BootS, IdleS, DurationS float64
	// Utilization is active / duration and MeanConcurrency the concurrency
	// integral / duration, both from the group's summed integrals (never an
	// average of per-report ratios); 0 without duration.
	Utilization     float64
	MeanConcurrency float64
}

// instanceStateSums are the sums of one group, exact in nanoseconds.
type instanceStateSums struct {
	reports, instances                        int64
	active, boot, idle, duration, concurrency wideSum
}

var instanceStateTable = streamTable[instanceStateColumns, instanceStateSums]{
	window: func(r *instanceStateColumns) time.Time { return r.WindowStart },
	dims: func(r *instanceStateColumns) dimValues {
		return dimValues{r.DeploymentKey, r.Hardware, r.ComputeUnit, r.Version}
	},
	add: func(g *instanceStateSums, r *instanceStateColumns) error {
		g.reports += r.Reports
		g.instances += r.Instances
		g.active.add(r.ActiveNs)
		g.boot.add(r.BootNs)
		g.idle.add(r.IdleNs)
		g.duration.add(r.DurationNs)
		g.concurrency.add(r.ConcurrencyNs)
		return nil
	},
	merge: func(g, o *instanceStateSums) error {
		g.reports += o.reports
		g.instances += o.instances
		g.active.addSum(o.active)
		g.boot.addSum(o.boot)
		g.idle.addSum(o.idle)
		g.duration.addSum(o.duration)
		g.concurrency.addSum(o.concurrency)
		return nil
	},
}

func runInstanceState(r *request) (*Result, error) {
	groups, rows, skipped, err := mergeStream(&instanceStateTable, r)
	if err != nil {
		return nil, err
	}
	res := &Result{InstanceState: make([]InstanceStateRow, len(groups)), RowsRead: rows, RowGroupsSkipped: skipped}
	for i, g := range groups {
		s := g.sums
		duration := s.duration.float()
		res.InstanceState[i] = InstanceStateRow{
			Group:           g.Group,
			Reports:         s.reports,
			Instances:       s.instances,
			ActiveS:         s.active.float() / 1e9,
			BootS:           s.boot.float() / 1e9,
			IdleS:           s.idle.float() / 1e9,
			DurationS:       duration / 1e9,
			Utilization:     ratio(s.active.float(), duration),
			MeanConcurrency: ratio(s.concurrency.float(), duration),
		}
	}
	return res, nil
}

// instanceStateOutput lists the fields of the answer: design.md's keys.
func instanceStateOutput(res *Result) []column[InstanceStateRow] {
	type R = InstanceStateRow
	return append(groupColumns(res, func(r *R) *Group { return &r.Group }),
		column[R]{"reports", func(r *R) any { return r.Reports }},
		column[R]{"instances", func(r *R) any { return r.Instances }},
		column[R]{"active_s", func(r *R) any { return r.ActiveS }},
		column[R]{"boot_s", func(r *R) any { return r.BootS }},
		column[R]{"idle_s", func(r *R) any { return r.IdleS }},
		column[R]{"duration_s", func(r *R) any { return r.DurationS }},
		column[R]{"utilization", func(r *R) any { return r.Utilization }},
		column[R]{"mean_concurrency", func(r *R) any { return r.MeanConcurrency }},
	)
}
