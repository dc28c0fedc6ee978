package query

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
)

// want is an expected value of a JSON key: exact when rel is 0, else within
// rel of v.
type want struct{ v, rel float64 }

func exact(v float64) want { return want{v: v} }
func near(v float64) want  { return want{v: v, rel: 1e-9} }

// sketched is what a merged sketch must answer for quantile q of values:
// within its 1% relative accuracy of the exact value at that rank.
func sketched(values []float64, q float64) want {
	return want{v: exactQuantile(values, q), rel: 0.01 + 1e-9}
}

// runJSON runs o as `readout query --format json` does, through Run and
// Write, and returns the result and the printed rows.
func runJSON(t *testing.T, o Options) (*Result, []map[string]any) {
	t.Helper()
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, res, "json"); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	dec := json.NewDecoder(&b)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad JSON line: %v", err)
		}
		rows = append(rows, m)
	}
	return res, rows
}

// checkStreamRows compares printed rows with the expected groups, keyed by
// streamTestKey: every group once, in order of time and then of the
// group-by keys, with exactly the keys expected.
func checkStreamRows(t *testing.T, rows []map[string]any, groups map[string]map[string]want, groupBy []string, bucketed bool) {
	t.Helper()
	if len(rows) != len(groups) {
		t.Fatalf("unexpected row count; got %d; want %d", len(rows), len(groups))
	}
	var prev []string
	for i, row := range rows {
		var ts string
		var sortKey []string
		if bucketed {
			ts, _ = row["time"].(string)
			sortKey = append(sortKey, ts)
		}
		var vals []string
		for _, d := range groupBy {
			v, ok := row[d].(string)
			if !ok {
				t.Fatalf("row %d: key %s is %#v; want a string", i, d, row[d])
			}
			vals = append(vals, v)
		}
		sortKey = append(sortKey, vals...)
		if i > 0 && slices.Compare(prev, sortKey) >= 0 {
			t.Fatalf("row %d out of order: %v after %v", i, sortKey, prev)
		}
		prev = sortKey
		k := streamTestKey(ts, vals)
		w, ok := groups[k]
		if !ok {
			t.Fatalf("unexpected group %q", k)
		}
		keys := slices.Clone(groupBy)
		if bucketed {
			keys = append(keys, "time")
		}
		for name := range w {
			keys = append(keys, name)
		}
		var got []string
		for name := range row {
			got = append(got, name)
		}
		slices.Sort(keys)
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Fatalf("group %q: unexpected keys; got %v; want %v", k, got, keys)
		}
		for name, x := range w {
			g, ok := row[name].(float64)
			if !ok {
				t.Fatalf("group %q: %s is %#v; want a number", k, name, row[name])
			}
			if x.rel == 0 && g != x.v || x.rel > 0 && !closeRel(g, x.v, x.rel) {
				t.Fatalf("group %q: unexpected %s; got %v; want %v (within %g)", k, name, g, x.v, x.rel)
			}
		}
	}
}

// checkRowsRead fails a case that read no row unless its name says it
// expects nothing: a test of an empty answer would prove little.
func checkRowsRead(t *testing.T, res *Result, name string) {
	t.Helper()
	if (res.RowsRead == 0) != strings.Contains(name, "nothing") {
		t.Fatalf("case %q read %d rows", name, res.RowsRead)
	}
}

// streamCase is one query of a stream table's test.
type streamCase struct {
	name     string
	groupBy  []string
	bucket   time.Duration
	from, to time.Time
	where    []Condition
}

// streamCases are the queries every stream table is checked with: a and b
// are conditions on two different dimensions that rows meet; b is on a
// text dimension, which may hold any value.
func streamCases(dims []string, a, b Condition) []streamCase {
	from := streamBase.Add(90 * time.Minute)
	to := streamBase.Add(150 * time.Minute)
	other := dims[0]
	if other == a.Dim {
		other = dims[1]
	}
	cases := []streamCase{
		{name: "total"},
		{name: "every dimension", groupBy: dims},
		{name: "reversed", groupBy: []string{dims[len(dims)-1], dims[0]}},
		{name: "per hour", groupBy: dims[:1], bucket: time.Hour},
		{name: "per minute total", bucket: time.Minute},
		{name: "per day", groupBy: dims[1:], bucket: 24 * time.Hour},
		{name: "range", groupBy: dims[:1], from: from, to: to},
		{name: "mid-hour bounds", from: from.Add(7 * time.Minute), to: from.Add(19 * time.Minute)},
		{name: "where", where: []Condition{a}},
		{name: "where, grouped", groupBy: []string{other}, where: []Condition{a}},
		{name: "where both", groupBy: []string{a.Dim}, bucket: time.Hour, where: []Condition{a, b}},
		{name: "where nothing", where: []Condition{{Dim: b.Dim, Value: "no such value"}}},
		{name: "where nothing, grouped", groupBy: dims[:1], where: []Condition{{Dim: b.Dim, Value: "no such value"}}},
	}
	for _, d := range dims {
		cases = append(cases, streamCase{name: "by " + d, groupBy: []string{d}})
	}
	return cases
}

func TestInstanceStateQuery(t *testing.T) {
	out := t.TempDir()
	reports := genReports(1, 3000)
	rows := writeSplit(t, out, table.InstanceState, reports, reportKey, reportRow, 3, 2)
	rowKey := func(r *table.InstanceStateRow) (time.Time, dimValues) {
		return r.WindowStart, dimValues{r.DeploymentKey, r.Hardware, r.ComputeUnit, r.Version}
	}
	dims := Dimensions(table.InstanceStateDir)
	if groups := groupFacts(reports, reportKey, dims, dims, time.Minute, time.Time{}, time.Time{}, nil); len(rows) <= len(groups) {
		t.Fatalf("dataset has no split groups: %d rows for %d groups", len(rows), len(groups))
	}
	for i, tc := range streamCases(dims, Condition{"deployment_key", "acme/flux"}, Condition{"hardware", "gpu-t4"}) {
		t.Run(tc.name, func(t *testing.T) {
			res, got := runJSON(t, Options{Dir: out, Table: table.InstanceStateDir, GroupBy: tc.groupBy, Bucket: tc.bucket, From: tc.from, To: tc.to, Where: tc.where, Workers: 1 + i%3})
			checkRowsRead(t, res, tc.name)
			facts := groupFacts(reports, reportKey, dims, tc.groupBy, tc.bucket, tc.from, tc.to, tc.where)
			written := groupFacts(rows, rowKey, dims, tc.groupBy, tc.bucket, tc.from, tc.to, tc.where)
			groups := make(map[string]map[string]want)
			for k, rs := range facts {
				var active, boot, idle, length, conc, instances int64
				for _, r := range rs {
					active, boot, idle, length, conc = active+r.active, boot+r.boot, idle+r.idle, length+r.length, conc+r.concurrency
				}
				for _, r := range written[k] {
					instances += r.Instances
				}
				groups[k] = map[string]want{
					"reports": exact(float64(len(rs))), "instances": exact(float64(instances)),
					"active_s": near(float64(active) / 1e9), "boot_s": near(float64(boot) / 1e9),
					"idle_s": near(float64(idle) / 1e9), "duration_s": near(float64(length) / 1e9),
					"utilization": near(ratio(float64(active), float64(length))), "mean_concurrency": near(ratio(float64(conc), float64(length))),
				}
			}
			checkStreamRows(t, got, groups, tc.groupBy, tc.bucket > 0)
		})
	}
}

// Utilization is the ratio of the summed integrals: an instance busy for a
// whole minute and one idle for 15 s are 80% utilized together, not the
// 50% that averaging their ratios gives.
func TestInstanceStateUtilizationFromIntegrals(t *testing.T) {
	out := t.TempDir()
	ws := time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC)
	dir := table.InstanceState.PartitionDir(out, ws)
	busy := table.InstanceStateRow{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d", Hardware: "gpu-a100", Reports: 4, Instances: 1,
		ActiveNs: 60e9, DurationNs: 60e9, ConcurrencyNs: 120e9}
	idle := table.InstanceStateRow{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d", Hardware: "gpu-t4", Reports: 1, Instances: 1,
		BootNs: 5e9, IdleNs: 10e9, DurationNs: 15e9}
	for name, r := range map[string]table.InstanceStateRow{"a.parquet": busy, "b.parquet": idle} {
		if err := table.Write(filepath.Join(dir, name), []table.InstanceStateRow{r}); err != nil {
			t.Fatal(err)
		}
	}
	_, got := runJSON(t, Options{Dir: out, Table: table.InstanceStateDir, GroupBy: []string{"deployment_key"}})
	checkStreamRows(t, got, map[string]map[string]want{streamTestKey("", []string{"d"}): {
		"reports": exact(5), "instances": exact(2), "active_s": exact(60), "boot_s": exact(5), "idle_s": exact(10), "duration_s": exact(75),
		"utilization": exact(0.8), "mean_concurrency": exact(1.6),
	}}, []string{"deployment_key"}, false)
	// Nothing in range: one total row of zeros, ratios included.
	_, got = runJSON(t, Options{Dir: out, Table: table.InstanceStateDir, Where: []Condition{{"hardware", "tpu"}}})
	checkStreamRows(t, got, map[string]map[string]want{streamTestKey("", nil): {
		"reports": exact(0), "instances": exact(0), "active_s": exact(0), "boot_s": exact(0), "idle_s": exact(0), "duration_s": exact(0),
		"utilization": exact(0), "mean_concurrency": exact(0),
	}}, nil, false)
}

func TestPredictionsQuery(t *testing.T) {
	out := t.TempDir()
	preds := genPredictions(2, 4000)
	writeSplit(t, out, table.Predictions, preds, predictionKey, predictionRow, 3, 2)
	dims := Dimensions(table.PredictionsDir)
	for i, tc := range streamCases(dims, Condition{"status", "failed"}, Condition{"deployment_key", "zeta/llama"}) {
		t.Run(tc.name, func(t *testing.T) {
			res, got := runJSON(t, Options{Dir: out, Table: table.PredictionsDir, GroupBy: tc.groupBy, Bucket: tc.bucket, From: tc.from, To: tc.to, Where: tc.where, Workers: 1 + i%3})
			checkRowsRead(t, res, tc.name)
			groups := make(map[string]map[string]want)
			for k, ps := range groupFacts(preds, predictionKey, dims, tc.groupBy, tc.bucket, tc.from, tc.to, tc.where) {
				counts := make(map[string]int64)
				var in, outTok, images, ns int64
				var ms []float64
				for _, p := range ps {
					counts[p.dims[2]]++
					in, outTok, images = in+p.inputTokens, outTok+p.outputTokens, images+p.images
					if p.started {
						ns += p.predictNs
						ms = append(ms, float64(p.predictNs)/1e6)
					}
				}
				groups[k] = map[string]want{
					"predictions": exact(float64(len(ps))), "succeeded": exact(float64(counts["succeeded"])),
					"failed": exact(float64(counts["failed"])), "canceled": exact(float64(counts["canceled"])), "aborted": exact(float64(counts["aborted"])),
					"input_tokens": exact(float64(in)), "output_tokens": exact(float64(outTok)), "images": exact(float64(images)),
					"predict_time_ms_p50": sketched(ms, 0.5), "predict_time_ms_p90": sketched(ms, 0.9), "predict_time_ms_p99": sketched(ms, 0.99),
					"predict_time_ms_mean": near(ratio(float64(ns), float64(len(ms))) / 1e6),
				}
			}
			checkStreamRows(t, got, groups, tc.groupBy, tc.bucket > 0)
		})
	}
}

func TestDownloadsQuery(t *testing.T) {
	out := t.TempDir()
	downloads := genDownloads(3, 3000)
	writeSplit(t, out, table.Downloads, downloads, downloadKey, downloadRow, 3, 2)
	dims := Dimensions(table.DownloadsDir)
	for i, tc := range streamCases(dims, Condition{"host", "huggingface.co"}, Condition{"url", testURLs[1]}) {
		t.Run(tc.name, func(t *testing.T) {
			res, got := runJSON(t, Options{Dir: out, Table: table.DownloadsDir, GroupBy: tc.groupBy, Bucket: tc.bucket, From: tc.from, To: tc.to, Where: tc.where, Workers: 1 + i%3})
			checkRowsRead(t, res, tc.name)
			groups := make(map[string]map[string]want)
			for k, ds := range groupFacts(downloads, downloadKey, dims, tc.groupBy, tc.bucket, tc.from, tc.to, tc.where) {
				var errs, bytes, us int64
				var ms []float64
				for _, d := range ds {
					if d.failed {
						errs++
					}
					bytes, us = bytes+d.bytes, us+d.durationUs
					ms = append(ms, float64(d.durationUs)/1e3)
				}
				groups[k] = map[string]want{
					"downloads": exact(float64(len(ds))), "errors": exact(float64(errs)), "bytes": exact(float64(bytes)),
					"bytes_per_second": near(ratio(float64(bytes), float64(us)/1e6)),
					"duration_ms_p50":  sketched(ms, 0.5), "duration_ms_p90": sketched(ms, 0.9), "duration_ms_p99": sketched(ms, 0.99),
					"duration_ms_mean": near(ratio(float64(us), float64(len(ds))) / 1e3),
				}
			}
			checkStreamRows(t, got, groups, tc.groupBy, tc.bucket > 0)
		})
	}
}

func TestSetupRunsGrouped(t *testing.T) {
	out := t.TempDir()
	runs := genSetupRuns(4, 1500)
	writeScattered(t, out, table.SetupRuns, runs, setupRunKey, 3)
	dims := Dimensions(table.SetupRunsDir)
	for i, tc := range streamCases(dims, Condition{"status", "failed"}, Condition{"deployment_key", "acme/sdxl"}) {
		if len(tc.groupBy) == 0 {
			continue // the runs themselves: TestSetupRunsListed
		}
		t.Run(tc.name, func(t *testing.T) {
			res, got := runJSON(t, Options{Dir: out, Table: table.SetupRunsDir, GroupBy: tc.groupBy, Bucket: tc.bucket, From: tc.from, To: tc.to, Where: tc.where, Workers: 1 + i%3})
			checkRowsRead(t, res, tc.name)
			groups := make(map[string]map[string]want)
			for k, rs := range groupFacts(runs, setupRunKey, dims, tc.groupBy, tc.bucket, tc.from, tc.to, tc.where) {
				var durations, toReady []float64
				for _, r := range rs {
					if !r.StartedAt.IsZero() {
						durations = append(durations, r.DurationMs)
					}
					if !r.ScheduledAt.IsZero() {
						toReady = append(toReady, r.ScheduledToReadyMs)
					}
				}
				groups[k] = map[string]want{
					"runs":            exact(float64(len(rs))),
					"duration_ms_p50": exact(rankQuantile(durations, 50)), "duration_ms_p99": exact(rankQuantile(durations, 99)),
					"scheduled_to_ready_ms_p50": exact(rankQuantile(toReady, 50)), "scheduled_to_ready_ms_p99": exact(rankQuantile(toReady, 99)),
				}
			}
			checkStreamRows(t, got, groups, tc.groupBy, tc.bucket > 0)
		})
	}
}

// rankQuantile is the pct-th percentile of values by nearest rank: the
// smallest value that at least pct% of the values are at or below.
func rankQuantile(values []float64, pct int) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	for _, v := range s {
		below := 0
		for _, w := range s {
			if w <= v {
				below++
			}
		}
		if 100*below >= pct*len(s) {
			return v
		}
	}
	return s[len(s)-1]
}

// Without --group-by, setup_runs lists the runs themselves, ordered by
// completion, with design.md's keys and a missing time as null.
func TestSetupRunsListed(t *testing.T) {
	out := t.TempDir()
	runs := genSetupRuns(5, 600)
	writeScattered(t, out, table.SetupRuns, runs, setupRunKey, 3)
	dims := Dimensions(table.SetupRunsDir)
	from, to := streamBase.Add(30*time.Minute), streamBase.Add(170*time.Minute)
	for i, tc := range []streamCase{
		{name: "all"},
		{name: "range", from: from, to: to},
		{name: "failed", where: []Condition{{"status", "failed"}}},
		{name: "one deployment, ready, in range", from: from, to: to, where: []Condition{{"deployment_key", "acme/flux"}, {"status", "ready"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, got := runJSON(t, Options{Dir: out, Table: table.SetupRunsDir, From: tc.from, To: tc.to, Where: tc.where, Workers: 1 + i%3})
			want := groupFacts(runs, setupRunKey, dims, nil, 0, tc.from, tc.to, tc.where)[streamTestKey("", nil)]
			slices.SortFunc(want, func(a, b table.SetupRunRow) int {
				return cmp.Or(a.CompletedAt.Compare(b.CompletedAt), strings.Compare(a.InstanceID, b.InstanceID), a.StartedAt.Compare(b.StartedAt))
			})
			if len(got) != len(want) || res.RowsRead != int64(len(want)) {
				t.Fatalf("unexpected run count; got %d (%d read); want %d", len(got), res.RowsRead, len(want))
			}
			nulls := 0
			for j, r := range want {
				started := any(nil)
				if !r.StartedAt.IsZero() {
					started = r.StartedAt.Format(time.RFC3339Nano)
				} else {
					nulls++
				}
				wantRow := map[string]any{
					"instance_id": r.InstanceID, "deployment_key": r.DeploymentKey, "status": r.Status,
					"started_at": started, "completed_at": r.CompletedAt.Format(time.RFC3339Nano),
					"scheduled_to_started_ms": r.ScheduledToStartedMs, "scheduled_to_ready_ms": r.ScheduledToReadyMs,
					"duration_ms": r.DurationMs, "logs_bytes": float64(r.LogsBytes),
				}
				if !mapsEqual(got[j], wantRow) {
					t.Fatalf("run %d: got %v; want %v", j, got[j], wantRow)
				}
			}
			if tc.name == "all" && nulls == 0 {
				t.Fatal("the dataset has no run without a start time")
			}
		})
	}
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// --where on inference: text, enum and numeric dimensions (an account id
// above 2^63 included), alone, together and with grouping.
func TestRunWhere(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(21, 3000)
	writeDataset(t, out, evs, 3, 2)
	for i, tc := range []struct {
		name    string
		where   []Condition
		groupBy []string
		bucket  time.Duration
	}{
		{"model", []Condition{{"model_id", testModels[1]}}, nil, 0},
		{"big account", []Condition{{"account_id", "9223372036854775813"}}, []string{"model_id"}, 0},
		{"colo and source", []Condition{{"colo_id", "7"}, {"request_source", "worker"}}, []string{"account_id"}, time.Hour},
		{"error code", []Condition{{"error_code", "3040"}}, []string{"colo_id"}, 0},
		{"blank backend", []Condition{{"backend", ""}}, []string{"backend", "request_source"}, 0},
		{"no such colo", []Condition{{"colo_id", "9"}}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(Options{Dir: out, Where: tc.where, GroupBy: tc.groupBy, Bucket: tc.bucket, Workers: 1 + i%3})
			if err != nil {
				t.Fatal(err)
			}
			var kept []event
			for _, e := range evs {
				if !slices.ContainsFunc(tc.where, func(c Condition) bool { return eventDim(&e, c.Dim) != c.Value }) {
					kept = append(kept, e)
				}
			}
			checkResult(t, res, expect(kept, tc.groupBy, tc.bucket, time.Time{}, time.Time{}), tc.groupBy)
		})
	}
}

// eventDim is dimension d of e as --where writes it.
func eventDim(e *event, d string) string {
	k := Key{ModelID: e.model, AccountID: e.account, ColoID: e.colo, RequestSource: e.source, ErrorCode: e.errorCode, Backend: e.backend}
	switch v := dimValue(d, &k).(type) {
	case string:
		return v
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return ""
}

func TestWideSum(t *testing.T) {
	var s wideSum
	for range 4 {
		s.add(math.MaxInt64)
	}
	if got, want := s.float(), 4*float64(math.MaxInt64); got != want {
		t.Fatalf("unexpected sum past int64; got %v; want %v", got, want)
	}
	var n wideSum
	n.add(-5)
	n.add(2)
	if got := n.float(); got != -3 {
		t.Fatalf("unexpected negative sum; got %v; want -3", got)
	}
	var m wideSum
	m.addSum(s)
	m.addSum(n)
	m.add(3)
	if got := m.float(); got != s.float() {
		t.Fatalf("unexpected merged sum; got %v; want %v", got, s.float())
	}
}
