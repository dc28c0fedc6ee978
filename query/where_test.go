package query

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/readout-dev/readout/table"
)

func TestParseWhere(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Condition
		err  string
	}{
		{"", nil, ""},
		{"status=failed", []Condition{{"status", "failed"}}, ""},
		{" status = failed , deployment_key=acme/flux", []Condition{{"status", "failed"}, {"deployment_key", "acme/flux"}}, ""},
		{"version=", []Condition{{"version", ""}}, ""},
		{"url=https://h/a,b?x=1,host=h", []Condition{{"url", "https://h/a,b?x=1"}, {"host", "h"}}, ""},
		{"url=https://h/?a=b=c", []Condition{{"url", "https://h/?a=b=c"}}, ""},
		{"status", nil, `bad condition "status"`},
		{"=failed", nil, `bad condition "=failed"`},
		{"status=failed,", nil, ""}, // the trailing comma belongs to the value
		{"a b=c", nil, `bad condition "a b=c"`},
	} {
		got, err := ParseWhere(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseWhere(%q): got %v, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseWhere(%q): unexpected error %v", tc.in, err)
		}
		if tc.want != nil && !slices.Equal(got, tc.want) {
			t.Fatalf("ParseWhere(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

// A --where key must be a dimension of the table, and its value one the
// dimension can hold; the message names the table's dimensions or values.
func TestWhereErrors(t *testing.T) {
	for _, tc := range []struct {
		table string
		where []Condition
		want  string
	}{
		{"", []Condition{{"deployment_key", "x"}}, `unknown dimension "deployment_key" for table inference (want one of model_id, account_id, colo_id, request_source, error_code, backend)`},
		{"predictions", []Condition{{"model_id", "x"}}, `unknown dimension "model_id" for table predictions (want one of deployment_key, version, status, error_code)`},
		{"instance_state", []Condition{{"instance_id", "i-1"}}, "(want one of deployment_key, hardware, compute_unit, version)"},
		{"downloads", []Condition{{"bytes", "1"}}, "(want one of host, url)"},
		{"setup_runs", []Condition{{"instance_id", "i"}}, "(want one of deployment_key, status)"},
		{"", []Condition{{"colo_id", "seven"}}, "colo_id=seven: want an unsigned 32-bit integer"},
		{"", []Condition{{"colo_id", "4294967296"}}, "want an unsigned 32-bit integer"},
		{"", []Condition{{"account_id", "-1"}}, "want an unsigned 64-bit integer"},
		{"", []Condition{{"request_source", "rest_api"}}, "request_source=rest_api: want one of unknown, worker, pages, restApi"},
		{"predictions", []Condition{{"status", "success"}}, "want one of processing, succeeded, failed, canceled, aborted"},
		{"setup_runs", []Condition{{"status", "succeeded"}}, "want one of unknown, ready, failed, timeout"},
		{"predictions", []Condition{{"status", "failed"}, {"status", "aborted"}}, `dimension "status" is given twice`},
	} {
		err := (&Options{Dir: "x", Table: tc.table, Where: tc.where}).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("table %q, where %v: got %v; want an error containing %q", tc.table, tc.where, err, tc.want)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	out := t.TempDir()
	writeSplit(t, out, table.Predictions, genPredictions(8, 50), predictionKey, predictionRow, 1, 1)
	for _, tc := range []struct {
		name string
		opts Options
		want string
		is   error
	}{
		{"unknown table", Options{Dir: out, Table: "prediction"}, `unknown table "prediction" (want one of inference, instance_state, predictions, downloads, setup_runs, lifecycle)`, nil},
		{"audit", Options{Dir: out, Table: "audit"}, "readout audit", nil},
		{"dimension of another table", Options{Dir: out, Table: "predictions", GroupBy: []string{"model_id"}}, `--group-by: unknown dimension "model_id" for table predictions (want some of deployment_key, version, status, error_code)`, nil},
		{"setup runs bucketed without grouping", Options{Dir: out, Table: "setup_runs", Bucket: time.Hour}, "--bucket with --table setup_runs needs --group-by", nil},
		{"no files of the table", Options{Dir: out, Table: "downloads"}, "no downloads files under " + filepath.Join(out, "downloads"), ErrNoData},
		{"no inference files", Options{Dir: out}, "no inference files under", ErrNoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error; got %v; want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("unexpected error kind; got %v; want %v", err, tc.is)
			}
		})
	}
	bad := filepath.Join(table.Predictions.PartitionDir(out, streamBase), "zz.parquet")
	if err := os.WriteFile(bad, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := Run(Options{Dir: out, Table: "predictions"}); !errors.As(err, &ce) || ce.Path != bad {
		t.Fatalf("unexpected error; got %v; want a CorruptError naming %s", err, bad)
	}
}

// writeRowGroups writes rows to path in row groups of perGroup rows, as a
// large flush would (table.Write's groups hold 65,536 rows).
func writeRowGroups[T any](t *testing.T, path string, rows []T, perGroup int) int {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := parquet.NewGenericWriter[T](f, parquet.MaxRowsPerRowGroup(int64(perGroup)))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return len(pf.RowGroups())
}

// --where skips the row groups whose column statistics rule it out, and
// the answer is the same as when every row is read and filtered: for text
// columns, and for unsigned ones with values above 2^63 and 2^31.
func TestWhereSkipsRowGroups(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(31, 2000)
	for i := range evs {
		evs[i].ws = evs[0].ws // one partition, one file
	}
	var rows []table.InferenceRow
	for _, e := range evs {
		rows = append(rows, partialRow([]event{e}))
	}
	slices.SortFunc(rows, func(a, b table.InferenceRow) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.ColoID, b.ColoID))
	})
	groups := writeRowGroups(t, filepath.Join(table.PartitionDir(out, evs[0].ws), "a.parquet"), rows, 100)
	if groups < 10 {
		t.Fatalf("want many row groups; got %d", groups)
	}
	for _, tc := range []struct {
		where   []Condition
		skipAll bool
	}{
		{[]Condition{{"account_id", "9223372036854775813"}}, false},
		{[]Condition{{"account_id", "100"}, {"colo_id", "8"}}, false},
		{[]Condition{{"account_id", "99"}}, true},
		{[]Condition{{"colo_id", "4294967295"}}, true},
	} {
		res, err := Run(Options{Dir: out, Where: tc.where, GroupBy: []string{"model_id"}})
		if err != nil {
			t.Fatal(err)
		}
		var kept []event
		for _, e := range evs {
			if !slices.ContainsFunc(tc.where, func(c Condition) bool { return eventDim(&e, c.Dim) != c.Value }) {
				kept = append(kept, e)
			}
		}
		checkResult(t, res, expect(kept, []string{"model_id"}, 0, time.Time{}, time.Time{}), []string{"model_id"})
		if tc.skipAll && res.RowGroupsSkipped != groups || !tc.skipAll && (res.RowGroupsSkipped == 0 || res.RowGroupsSkipped == groups) {
			t.Fatalf("where %v: skipped %d of %d row groups", tc.where, res.RowGroupsSkipped, groups)
		}
	}

	// Text: predictions sorted by deployment.
	preds := genPredictions(32, 3000)
	for i := range preds {
		preds[i].ws = streamBase
	}
	var prows []table.PredictionRow
	for _, p := range preds {
		prows = append(prows, predictionRow([]prediction{p}))
	}
	slices.SortFunc(prows, func(a, b table.PredictionRow) int { return strings.Compare(a.DeploymentKey, b.DeploymentKey) })
	groups = writeRowGroups(t, filepath.Join(table.Predictions.PartitionDir(out, streamBase), "a.parquet"), prows, 100)
	res, got := runJSON(t, Options{Dir: out, Table: table.PredictionsDir, Where: []Condition{{"deployment_key", "acme/sdxl"}}})
	n := 0
	for _, p := range preds {
		if p.dims[0] == "acme/sdxl" {
			n++
		}
	}
	if got[0]["predictions"] != float64(n) || res.RowGroupsSkipped == 0 || res.RowGroupsSkipped == groups {
		t.Fatalf("unexpected answer %v; want %d predictions, with %d row groups skipped of %d", got, n, res.RowGroupsSkipped, groups)
	}
}
