package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/readout-dev/readout/internal/truth"
)

// CheckStreams compares what `readout query` says of the stream tables
// with what loadgen's instance fleet sent: every count exactly, every
// state time and integral to the nanosecond (the query's seconds times
// 1e9, rounded), utilization and mean concurrency as the ratios of those
// sums. It returns every difference it finds.
func (p *Pipeline) CheckStreams(ctx context.Context, want *truth.Streams) error {
	if want == nil {
		return errors.New("the truth file has no streams: loadgen ran without --streams instances")
	}
	var errs []error
	diff := func(table, key, field string, got, want int64) {
		if got != want {
			errs = append(errs, fmt.Errorf("%s %s %s: query %d, truth %d", table, key, field, got, want))
		}
	}
	query := func(table string, args ...string) map[string]map[string]any {
		rows, err := p.QueryJSON(ctx, append([]string{"--table", table}, args...)...)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		out := map[string]map[string]any{}
		for _, r := range rows {
			k := fmt.Sprint(r[args[1]])
			if args[1] == "deployment_key,status" {
				k = fmt.Sprint(r["deployment_key"], "/", r["status"])
			}
			out[k] = r
		}
		return out
	}
	count := func(table string, got map[string]map[string]any, n int) {
		if len(got) != n {
			errs = append(errs, fmt.Errorf("%s: query has %d keys, truth %d", table, len(got), n))
		}
	}

	got := query("instance_state", "--group-by", "deployment_key")
	count("instance_state", got, len(want.InstanceState))
	for k, w := range want.InstanceState {
		r := got[k]
		diff("instance_state", k, "reports", integer(r, "reports"), w.Reports)
		diff("instance_state", k, "active_s", nanos(r, "active_s"), w.ActiveNs)
		diff("instance_state", k, "boot_s", nanos(r, "boot_s"), w.BootNs)
		diff("instance_state", k, "idle_s", nanos(r, "idle_s"), w.IdleNs)
		diff("instance_state", k, "duration_s", nanos(r, "duration_s"), w.DurationNs)
		ratio := func(field string, num int64) {
			if w.DurationNs == 0 {
				return
			}
			if g, x := number(r, field), float64(num)/float64(w.DurationNs); math.Abs(g-x) > 1e-9*math.Max(1, x) {
				errs = append(errs, fmt.Errorf("instance_state %s %s: query %v, truth %v", k, field, g, x))
			}
		}
		ratio("utilization", w.ActiveNs)
		ratio("mean_concurrency", w.ConcurrencyNs)
	}

	got = query("predictions", "--group-by", "deployment_key")
	count("predictions", got, len(want.Predictions))
	for k, w := range want.Predictions {
		r := got[k]
		for _, f := range []struct {
			name string
			want int64
		}{{"predictions", w.Predictions}, {"succeeded", w.Succeeded}, {"failed", w.Failed}, {"canceled", w.Canceled},
			{"aborted", w.Aborted}, {"input_tokens", w.InputTokens}, {"output_tokens", w.OutputTokens}, {"images", w.Images}} {
			diff("predictions", k, f.name, integer(r, f.name), f.want)
		}
	}

	got = query("setup_runs", "--group-by", "deployment_key,status")
	n := 0
	for dep, w := range want.SetupRuns {
		for status, runs := range w.ByStatus {
			n++
			diff("setup_runs", dep, status+" runs", integer(got[dep+"/"+status], "runs"), runs)
		}
	}
	count("setup_runs", got, n)

	got = query("downloads", "--group-by", "host")
	count("downloads", got, len(want.Downloads))
	for k, w := range want.Downloads {
		r := got[k]
		diff("downloads", k, "downloads", integer(r, "downloads"), w.Downloads)
		diff("downloads", k, "errors", integer(r, "errors"), w.Errors)
		diff("downloads", k, "bytes", integer(r, "bytes"), w.Bytes)
		if w.DurationUs > 0 {
			if g, x := number(r, "bytes_per_second"), float64(w.Bytes)/(float64(w.DurationUs)/1e6); math.Abs(g-x) > 1e-9*math.Max(1, x) {
				errs = append(errs, fmt.Errorf("downloads %s bytes_per_second: query %v, truth %v", k, g, x))
			}
		}
	}
	return errors.Join(errs...)
}

// number is floatField with NaN for a missing field, which no comparison
// takes for the truth.
func number(r map[string]any, k string) float64 {
	if f, err := floatField(r, k); err == nil {
		return f
	}
	return math.NaN()
}

// integer is intField with -1 for a missing field.
func integer(r map[string]any, k string) int64 {
	if n, err := intField(r, k); err == nil {
		return int64(n)
	}
	return -1
}

// nanos is a seconds field in nanoseconds, rounded, or -1 when missing.
func nanos(r map[string]any, k string) int64 {
	f := number(r, k)
	if math.IsNaN(f) {
		return -1
	}
	return int64(math.Round(f * 1e9))
}
