package query

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/table"
)

// checkResult compares res with the answer computed from raw events:
// counters exactly, means to float rounding, quantiles within the sketch's
// 1% relative error of the exact quantiles.
func checkResult(t *testing.T, res *Result, want map[string]*expected, groupBy []string) {
	t.Helper()
	if len(res.Rows) != len(want) {
		t.Fatalf("unexpected row count; got %d; want %d", len(res.Rows), len(want))
	}
	seen := make(map[string]bool)
	for i := range res.Rows {
		r := &res.Rows[i]
		k := rowKey(r, groupBy)
		x := want[k]
		if x == nil {
			t.Fatalf("unexpected group %q", k)
		}
		if seen[k] {
			t.Fatalf("group %q appears twice", k)
		}
		seen[k] = true
		if r.Requests != x.requests || r.Errors != x.errors || r.Streamed != x.streamed ||
			r.InputTokens != x.inputTokens || r.OutputTokens != x.outputTokens {
			t.Fatalf("group %q: unexpected counters; got %d/%d/%d/%d/%d; want %d/%d/%d/%d/%d", k,
				r.Requests, r.Errors, r.Streamed, r.InputTokens, r.OutputTokens,
				x.requests, x.errors, x.streamed, x.inputTokens, x.outputTokens)
		}
		if !closeRel(r.Neurons, x.neurons, 1e-12) {
			t.Fatalf("group %q: unexpected neurons; got %v; want %v", k, r.Neurons, x.neurons)
		}
		for d := range numDurations {
			vals := x.values[d]
			var sum float64
			for _, v := range vals {
				sum += v
			}
			wantMean := 0.0
			if len(vals) > 0 {
				wantMean = sum / float64(len(vals))
			}
			got := r.Durations[d]
			if !closeRel(got.Mean, wantMean, 1e-9) {
				t.Fatalf("group %q %s: unexpected mean; got %v; want %v", k, table.Durations[d], got.Mean, wantMean)
			}
			for _, q := range []struct {
				q   float64
				got float64
			}{{0.5, got.P50}, {0.9, got.P90}, {0.99, got.P99}} {
				if w := exactQuantile(vals, q.q); !closeRel(q.got, w, 0.01+1e-9) {
					t.Fatalf("group %q %s p%v: got %v; want %v within 1%%", k, table.Durations[d], q.q*100, q.got, w)
				}
			}
		}
	}
}

func TestRunExactMerge(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(1, 3000)
	if rows := writeDataset(t, out, evs, 3, 2); rows <= len(expect(evs, table.Dimensions, time.Minute, time.Time{}, time.Time{})) {
		t.Fatalf("dataset has no split groups: %d rows", rows)
	}
	from := time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)
	to := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		groupBy  []string
		bucket   time.Duration
		from, to time.Time
	}{
		{"total", nil, 0, time.Time{}, time.Time{}},
		{"by model", []string{"model_id"}, 0, time.Time{}, time.Time{}},
		{"by every dimension", table.Dimensions, 0, time.Time{}, time.Time{}},
		{"by account and error, reversed order", []string{"error_code", "account_id"}, 0, time.Time{}, time.Time{}},
		{"per minute", []string{"model_id"}, time.Minute, time.Time{}, time.Time{}},
		{"per hour", []string{"backend", "request_source"}, time.Hour, time.Time{}, time.Time{}},
		{"per day", []string{"colo_id"}, 24 * time.Hour, time.Time{}, time.Time{}},
		{"range", []string{"model_id"}, time.Hour, from, to},
		{"from only", nil, 24 * time.Hour, from, time.Time{}},
		{"to only", []string{"model_id"}, 0, time.Time{}, from},
		{"mid-hour bounds", nil, time.Minute, from.Add(7 * time.Minute), from.Add(19 * time.Minute)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			workers := 1 + i%3 // one reader, or several merged
			res, err := Run(Options{Dir: out, GroupBy: tc.groupBy, Bucket: tc.bucket, From: tc.from, To: tc.to, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, expect(evs, tc.groupBy, tc.bucket, tc.from, tc.to), tc.groupBy)
			for i := 1; i < len(res.Rows); i++ {
				a, b := &res.Rows[i-1], &res.Rows[i]
				if a.Time.After(b.Time) {
					t.Fatalf("rows not sorted by time at %d", i)
				}
				if a.Time.Equal(b.Time) && rowKey(a, tc.groupBy) > rowKey(b, tc.groupBy) && len(tc.groupBy) == 1 && tc.groupBy[0] == "model_id" {
					t.Fatalf("rows not sorted by key at %d: %q after %q", i, rowKey(b, tc.groupBy), rowKey(a, tc.groupBy))
				}
			}
		})
	}
}

// Several readers give the same answer, to the last bit, on every run; and
// of several corrupt files, the first in order is named.
func TestRunDeterministic(t *testing.T) {
	out := t.TempDir()
	writeDataset(t, out, genEvents(11, 800), 3, 3)
	var outputs []string
	for _, workers := range []int{3, 3, 2} {
		res, err := Run(Options{Dir: out, GroupBy: []string{"model_id"}, Bucket: time.Hour, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := Write(&b, res, "json"); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, b.String())
	}
	if outputs[0] != outputs[1] {
		t.Fatalf("two runs with 3 workers differ:\n%s\n%s", outputs[0], outputs[1])
	}
	files, err := partitionFiles(table.Inference, out, time.Time{}, time.Time{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{len(files) - 1, 1, 4} {
		if err := os.WriteFile(files[i], []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, workers := range []int{1, 2, 3, 4} {
		_, err := Run(Options{Dir: out, Workers: workers})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != files[1] {
			t.Fatalf("workers %d: unexpected error; got %v; want one naming %s", workers, err, files[1])
		}
	}
}

// A single window merged from many partial rows gives the quantiles of the
// union of their values.
func TestRunOneWindowManyRows(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(2, 3000)
	ws := evs[0].ws
	for i := range evs {
		evs[i].ws = ws
		evs[i].model = testModels[0]
	}
	writeDataset(t, out, evs, 3, 2) // rows of the other dimensions, split further
	res, err := Run(Options{Dir: out, GroupBy: []string{"model_id"}})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, expect(evs, []string{"model_id"}, 0, time.Time{}, time.Time{}), []string{"model_id"})
	if res.RowsRead < 50 {
		t.Fatalf("expected many partial rows for one window; got %d", res.RowsRead)
	}
}

func TestRunPrunesPartitions(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(3, 500)
	writeDataset(t, out, evs, 2, 1)
	// A corrupt file in a partition outside the range must never be opened,
	// and temporary files of atomic writes are skipped everywhere.
	outside := filepath.Join(table.PartitionDir(out, time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)), "corrupt.parquet")
	inside := filepath.Join(table.PartitionDir(out, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)), ".tmp-123.parquet")
	for _, p := range []string{outside, inside} {
		if err := os.WriteFile(p, []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		from, to  time.Time
		corrupted bool
	}{
		{"after the bad hour", time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC), time.Time{}, false},
		{"next day by date", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), false},
		{"before the bad hour", time.Time{}, time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC), false},
		{"touching the bad hour", time.Date(2026, 11, 27, 22, 59, 0, 0, time.UTC), time.Time{}, true},
		{"everything", time.Time{}, time.Time{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(Options{Dir: out, From: tc.from, To: tc.to})
			if !tc.corrupted {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				checkResult(t, res, expect(evs, nil, 0, tc.from, tc.to), nil)
				return
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != outside {
				t.Fatalf("unexpected error; got %v; want a CorruptError naming %s", err, outside)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), outside) {
				t.Fatalf("error is not one line naming the file: %q", err)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	good := t.TempDir()
	writeDataset(t, good, genEvents(4, 50), 1, 1)
	badSketch := t.TempDir()
	r := partialRow(genEvents(5, 1))
	r.InferenceTimeMsSketch = []byte{0xff, 0x01, 0x02}
	badSketchPath := filepath.Join(table.PartitionDir(badSketch, r.WindowStart), "part-0.parquet")
	if err := table.WriteInference(badSketchPath, []table.InferenceRow{r}); err != nil {
		t.Fatal(err)
	}
	truncated := t.TempDir()
	writeDataset(t, truncated, genEvents(6, 50), 1, 1)
	truncatedPath := firstFile(t, truncated)
	b, err := os.ReadFile(truncatedPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncatedPath, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	onlyTemp := t.TempDir()
	if err := os.MkdirAll(table.PartitionDir(onlyTemp, r.WindowStart), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(table.PartitionDir(onlyTemp, r.WindowStart), ".tmp-1.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
		want string // in the error
		is   error
	}{
		{"missing dir", Options{Dir: filepath.Join(good, "nope")}, "does not exist", nil},
		{"no dir", Options{}, "--dir is required", nil},
		{"empty dir", Options{Dir: t.TempDir()}, "no inference files", ErrNoData},
		{"only temp files", Options{Dir: onlyTemp}, "no inference files", ErrNoData},
		{"unknown dimension", Options{Dir: good, GroupBy: []string{"colo"}}, `unknown dimension "colo"`, nil},
		{"from after to", Options{Dir: good, From: time.Unix(100, 0), To: time.Unix(100, 0)}, "is not before --to", nil},
		{"corrupt sketch", Options{Dir: badSketch, GroupBy: []string{"model_id"}}, badSketchPath, nil},
		{"truncated file", Options{Dir: truncated}, truncatedPath, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error; got %v; want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("unexpected error kind; got %v; want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// A range with no rows is an answer, not an error: one zero total row.
func TestRunEmptyRange(t *testing.T) {
	out := t.TempDir()
	writeDataset(t, out, genEvents(7, 50), 1, 1)
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		groupBy []string
		rows    int
	}{{nil, 1}, {[]string{"model_id"}, 0}} {
		res, err := Run(Options{Dir: out, From: from, GroupBy: tc.groupBy})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != tc.rows || res.Files != 0 {
			t.Fatalf("unexpected result for %v; got %d rows from %d files; want %d rows from 0 files", tc.groupBy, len(res.Rows), res.Files, tc.rows)
		}
	}
}

func firstFile(t *testing.T, out string) string {
	t.Helper()
	files, err := partitionFiles(table.Inference, out, time.Time{}, time.Time{}, zap.NewNop())
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s: %v", out, err)
	}
	return files[0]
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-27", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), true},
		{"2026-11-27T13:05:00Z", time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC), true},
		{"2026-11-27T15:05:00.5+02:00", time.Date(2026, 11, 27, 13, 5, 0, 5e8, time.UTC), true},
		{"2026-11-27 13:05", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) || (tc.ok && got.Location() != time.UTC) {
			t.Fatalf("ParseTime(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"model_id", []string{"model_id"}},
		{" backend , model_id,backend", []string{"backend", "model_id"}},
		{"model_id,model", []string{"model_id", "model"}}, // Validate refuses model
	} {
		if got := ParseGroupBy(tc.in); !slices.Equal(got, tc.want) {
			t.Fatalf("ParseGroupBy(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"all", 0, true}, {"1m", time.Minute, true}, {"1h", time.Hour, true}, {"1d", 24 * time.Hour, true}, {"5m", 0, false}} {
		got, err := ParseBucket(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Fatalf("ParseBucket(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
