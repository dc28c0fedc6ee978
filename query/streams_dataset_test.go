package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

// The stream tables' datasets: raw facts (reports, predictions, downloads,
// setup runs) that the tests compute expected answers from, independently
// of the package, and their partial rows as a collector would write them,
// split and scattered over files and partitions.

// streamBase is the first window of the generated datasets, which span the
// four hours from 22:00Z and so cross a date boundary.
var streamBase = time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)

var (
	testDeployments = []string{"acme/flux", "acme/sdxl", "zeta/llama"}
	testVersions    = []string{"v1", "v2", ""}
)

// report is one instance-state report.
type report struct {
	ws                                      time.Time
	dims                                    dimValues // deployment_key, hardware, compute_unit, version
	instance                                string
	active, boot, idle, concurrency, length int64 // ns; length = active + boot + idle
}

// genReports makes n reports with intervals of 5 to 30 s, so that the
// reports' own utilizations weigh differently in the total.
func genReports(seed uint64, n int) []report {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	out := make([]report, n)
	for i := range out {
		r := &out[i]
		r.ws = streamBase.Add(time.Duration(rng.IntN(4*60)) * time.Minute)
		r.dims = dimValues{testDeployments[rng.IntN(3)], []string{"gpu-a100", "gpu-t4"}[rng.IntN(2)], []string{"gpu", "cpu"}[rng.IntN(2)], testVersions[rng.IntN(3)]}
		r.instance = fmt.Sprintf("i-%d", rng.IntN(12))
		r.length = int64(5+rng.IntN(26))*1e9 + rng.Int64N(1e9)
		r.active = rng.Int64N(r.length + 1)
		r.boot = rng.Int64N(r.length - r.active + 1)
		r.idle = r.length - r.active - r.boot
		r.concurrency = r.active * int64(1+rng.IntN(4))
	}
	return out
}

func reportKey(r *report) (time.Time, dimValues) { return r.ws, r.dims }

func reportRow(rs []report) table.InstanceStateRow {
	row := table.InstanceStateRow{WindowStart: rs[0].ws, WindowSeconds: 60, DeploymentKey: rs[0].dims[0], Hardware: rs[0].dims[1], ComputeUnit: rs[0].dims[2], Version: rs[0].dims[3]}
	instances := make(map[string]bool)
	for _, r := range rs {
		row.Reports++
		instances[r.instance] = true
		row.ActiveNs += r.active
		row.BootNs += r.boot
		row.IdleNs += r.idle
		row.DurationNs += r.length
		row.ConcurrencyNs += r.concurrency
	}
	row.Instances = int64(len(instances))
	return row
}

// prediction is one prediction at its terminal state.
type prediction struct {
	ws                                time.Time
	dims                              dimValues // deployment_key, version, status, error_code
	inputTokens, outputTokens, images int64
	started                           bool
	predictNs                         int64
}

var testPredictionStatuses = []string{"succeeded", "succeeded", "succeeded", "failed", "canceled", "aborted"}

func genPredictions(seed uint64, n int) []prediction {
	rng := rand.New(rand.NewPCG(seed, seed^0x27d4eb2f))
	out := make([]prediction, n)
	for i := range out {
		p := &out[i]
		p.ws = streamBase.Add(time.Duration(rng.IntN(4*60)) * time.Minute)
		status := testPredictionStatuses[rng.IntN(len(testPredictionStatuses))]
		code := ""
		if status == "failed" {
			code = []string{"E1234", "E4000"}[rng.IntN(2)]
		}
		p.dims = dimValues{testDeployments[rng.IntN(3)], testVersions[rng.IntN(3)], status, code}
		p.inputTokens, p.outputTokens, p.images = rng.Int64N(800), rng.Int64N(300), rng.Int64N(3)
		p.started = rng.IntN(10) != 0
		if p.started {
			p.predictNs = int64(math.Exp(rng.NormFloat64()*1.2+7) * 1e6) // ms, log-normal, as ns
		}
	}
	return out
}

func predictionKey(p *prediction) (time.Time, dimValues) { return p.ws, p.dims }

func predictionRow(ps []prediction) table.PredictionRow {
	row := table.PredictionRow{WindowStart: ps[0].ws, WindowSeconds: 60, DeploymentKey: ps[0].dims[0], Version: ps[0].dims[1], Status: ps[0].dims[2], ErrorCode: ps[0].dims[3]}
	sk := sketch.New()
	for _, p := range ps {
		row.Predictions++
		switch p.dims[2] {
		case "succeeded":
			row.Succeeded++
		case "failed":
			row.Failed++
		case "canceled":
			row.Canceled++
		case "aborted":
			row.Aborted++
		}
		row.InputTokens += p.inputTokens
		row.OutputTokens += p.outputTokens
		row.Images += p.images
		if p.started {
			row.Started++
			row.PredictTimeNs += p.predictNs
			sk.Add(float64(p.predictNs) / 1e6)
		}
	}
	if sk.Count() > 0 {
		row.PredictTimeMsSketch = sk.AppendBinary(nil)
		row.PredictTimeMsP50, row.PredictTimeMsP90, row.PredictTimeMsP99 = sk.Quantile(0.5), sk.Quantile(0.9), sk.Quantile(0.99)
		row.PredictTimeMsMean = float64(row.PredictTimeNs) / float64(row.Started) / 1e6
	}
	return row
}

// download is one reported download.
type download struct {
	ws                time.Time
	dims              dimValues // host, url
	bytes, durationUs int64
	failed            bool
}

var testURLs = []string{
	"https://huggingface.co/acme/flux/resolve/main/model.safetensors",
	"https://huggingface.co/acme/flux/resolve/main/config.json",
	"https://weights.s3.amazonaws.com/zeta/llama.tar",
}

func genDownloads(seed uint64, n int) []download {
	rng := rand.New(rand.NewPCG(seed, seed^0x85ebca6b))
	out := make([]download, n)
	for i := range out {
		d := &out[i]
		d.ws = streamBase.Add(time.Duration(rng.IntN(4*60)) * time.Minute)
		url := testURLs[rng.IntN(len(testURLs))]
		host := strings.Split(url, "/")[2]
		d.dims = dimValues{host, url}
		d.bytes = rng.Int64N(5 << 30)
		d.durationUs = int64(math.Exp(rng.NormFloat64()+14)) + 1 // µs, around a second
		d.failed = rng.IntN(8) == 0
	}
	return out
}

func downloadKey(d *download) (time.Time, dimValues) { return d.ws, d.dims }

func downloadRow(ds []download) table.DownloadRow {
	row := table.DownloadRow{WindowStart: ds[0].ws, WindowSeconds: 60, Host: ds[0].dims[0], URL: ds[0].dims[1]}
	sk := sketch.New()
	for _, d := range ds {
		row.Downloads++
		if d.failed {
			row.Errors++
		}
		row.Bytes += d.bytes
		row.DurationUs += d.durationUs
		sk.Add(float64(d.durationUs) / 1e3)
	}
	row.DurationMsSketch = sk.AppendBinary(nil)
	row.DurationMsP50, row.DurationMsP90, row.DurationMsP99 = sk.Quantile(0.5), sk.Quantile(0.9), sk.Quantile(0.99)
	row.DurationMsMean = float64(row.DurationUs) / float64(row.Downloads) / 1e3
	return row
}

// genSetupRuns makes n runs completed over the four hours; some lack a
// scheduled time, a few a start time, as reports may.
func genSetupRuns(seed uint64, n int) []table.SetupRunRow {
	rng := rand.New(rand.NewPCG(seed, seed^0xc2b2ae35))
	statuses := []string{"ready", "ready", "ready", "failed", "timeout", "unknown"}
	out := make([]table.SetupRunRow, n)
	for i := range out {
		r := &out[i]
		r.CompletedAt = streamBase.Add(time.Duration(rng.Int64N(int64(4 * time.Hour)))).Truncate(time.Microsecond)
		r.WindowStart, r.WindowSeconds = r.CompletedAt.Truncate(time.Minute), 60
		r.InstanceID = fmt.Sprintf("i-%03d", rng.IntN(1000))
		r.DeploymentKey = testDeployments[rng.IntN(3)]
		r.Status = statuses[rng.IntN(len(statuses))]
		if rng.IntN(12) != 0 {
			r.StartedAt = r.CompletedAt.Add(-time.Duration(rng.Int64N(int64(10 * time.Minute)))).Truncate(time.Microsecond)
			r.DurationMs = float64(r.CompletedAt.Sub(r.StartedAt)) / 1e6
		}
		if rng.IntN(4) != 0 {
			r.ScheduledAt = r.CompletedAt.Add(-time.Duration(rng.Int64N(int64(20 * time.Minute)))).Truncate(time.Microsecond)
			if !r.StartedAt.IsZero() && r.ScheduledAt.After(r.StartedAt) {
				r.ScheduledAt = r.StartedAt.Add(-time.Second)
			}
			r.ScheduledToReadyMs = float64(r.CompletedAt.Sub(r.ScheduledAt)) / 1e6
			if !r.StartedAt.IsZero() {
				r.ScheduledToStartedMs = float64(r.StartedAt.Sub(r.ScheduledAt)) / 1e6
			}
		}
		r.Logs = strings.Repeat("x", rng.IntN(200))
		r.LogsBytes = int64(len(r.Logs))
	}
	return out
}

func setupRunKey(r *table.SetupRunRow) (time.Time, dimValues) {
	return r.WindowStart, dimValues{r.DeploymentKey, r.Status}
}

// writeSplit aggregates facts the way a collector would, but splits each
// (window, key) group into up to maxParts partial rows scattered over
// filesPerPartition files of the window's partition of d (several rows of
// one key may land in one file), and returns the rows written.
func writeSplit[E, R any](t testing.TB, out string, d *table.Desc, facts []E, key func(*E) (time.Time, dimValues), row func([]E) R, maxParts, filesPerPartition int) []R {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 13))
	type fullKey struct {
		ws   int64
		dims dimValues
	}
	groups := make(map[fullKey][]E)
	var order []fullKey
	for i := range facts {
		ws, dims := key(&facts[i])
		k := fullKey{ws.UnixMilli(), dims}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], facts[i])
	}
	files := make(map[string][]R)
	var written []R
	for _, k := range order {
		g := groups[k]
		parts := 1 + rng.IntN(maxParts)
		for p := range parts {
			var share []E
			for i := p; i < len(g); i += parts {
				share = append(share, g[i])
			}
			if len(share) == 0 {
				continue
			}
			path := filepath.Join(d.PartitionDir(out, time.UnixMilli(k.ws)), fmt.Sprintf("part-%d.parquet", rng.IntN(filesPerPartition)))
			r := row(share)
			files[path] = append(files[path], r)
			written = append(written, r)
		}
	}
	for path, rs := range files {
		if err := table.Write(path, rs); err != nil {
			t.Fatal(err)
		}
	}
	return written
}

// writeScattered writes rows, one each, over filesPerPartition files of
// their window's partition of d.
func writeScattered[R any](t testing.TB, out string, d *table.Desc, rows []R, key func(*R) (time.Time, dimValues), filesPerPartition int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(17, 19))
	files := make(map[string][]R)
	for i := range rows {
		ws, _ := key(&rows[i])
		path := filepath.Join(d.PartitionDir(out, ws), fmt.Sprintf("part-%d.parquet", rng.IntN(filesPerPartition)))
		files[path] = append(files[path], rows[i])
	}
	for path, rs := range files {
		if err := table.Write(path, rs); err != nil {
			t.Fatal(err)
		}
	}
}

// groupFacts groups items as a query would: those whose window starts in
// [from, to) and whose dimensions (named dims, in order) meet where, by
// bucket and the groupBy dimensions. Keys are streamTestKey's. Without
// groupBy and bucket there is always one group, maybe empty.
func groupFacts[E any](items []E, key func(*E) (time.Time, dimValues), dims, groupBy []string, bucket time.Duration, from, to time.Time, where []Condition) map[string][]E {
	out := make(map[string][]E)
	for i := range items {
		ws, d := key(&items[i])
		if (!from.IsZero() && ws.Before(from)) || (!to.IsZero() && !ws.Before(to)) {
			continue
		}
		if !slices.ContainsFunc(where, func(c Condition) bool { return d[slices.Index(dims, c.Dim)] != c.Value }) {
			var ts string
			if bucket > 0 {
				ts = ws.UTC().Truncate(bucket).Format(time.RFC3339)
			}
			var vals []string
			for _, g := range groupBy {
				vals = append(vals, d[slices.Index(dims, g)])
			}
			k := streamTestKey(ts, vals)
			out[k] = append(out[k], items[i])
		}
	}
	if len(out) == 0 && len(groupBy) == 0 && bucket == 0 {
		out[streamTestKey("", nil)] = nil
	}
	return out
}

func streamTestKey(ts string, vals []string) string {
	return ts + "|" + strings.Join(vals, "|")
}
