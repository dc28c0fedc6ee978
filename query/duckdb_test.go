package query

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
)

// duckDB runs test/duckdb/totals.mjs with args and returns its JSON Lines.
// It skips when Node or the npm packages are missing, unless CI is set.
func duckDB(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	return runNode(t, filepath.Join(duckDBDir, "totals.mjs"), args...)
}

// duckDBSQL runs one SQL statement with DuckDB (testdata/duckdb/sql.mjs)
// and returns its rows.
func duckDBSQL(t *testing.T, sql string) []map[string]any {
	t.Helper()
	return runNode(t, filepath.Join("testdata", "duckdb", "sql.mjs"), duckDBDir, sql)
}

// duckDBDir holds the DuckDB npm package (npm ci there).
var duckDBDir = filepath.Join("..", "test", "duckdb")

func runNode(t *testing.T, script string, args ...string) []map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(duckDBDir, "node_modules", "@duckdb", "node-api"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("DuckDB check cannot run (run npm ci in test/duckdb): %v", err)
		}
		t.Skipf("DuckDB check skipped (run npm ci in test/duckdb): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s %v: %v: %s", script, args, err, stderr.String())
	}
	var rows []map[string]any
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad output of %s: %v", script, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func num(t *testing.T, v any) json.Number {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("not a number: %#v", v)
	}
	return n
}

// DuckDB, reading the files with no knowledge of readout, gets the same
// per-model totals as readout query, and sees text as VARCHAR and the window
// start as a TIMESTAMP.
func TestDuckDBReadsOutput(t *testing.T) {
	out := t.TempDir()
	evs := genEvents(8, 2000)
	writeDataset(t, out, evs, 3, 2)
	writeAudit(t, out, "collector-a.parquet", []table.AuditRow{{EmitterID: "e1", FirstSeq: 1, LastSeq: 60, Received: 50, Dropped: 2, Duplicates: 3}})
	writeAudit(t, out, "collector-b.parquet", []table.AuditRow{
		{EmitterID: "e1", FirstSeq: 51, LastSeq: 100, Received: 43, Dropped: 5, Duplicates: 1, Closed: true},
		{EmitterID: "e2", FirstSeq: 1, LastSeq: 10, Received: 10, Closed: true},
	})

	t.Run("totals", func(t *testing.T) {
		res, err := Run(Options{Dir: out, GroupBy: []string{"model_id"}})
		if err != nil {
			t.Fatal(err)
		}
		got := duckDB(t, out)
		if len(got) != len(res.Rows) {
			t.Fatalf("unexpected model count; DuckDB %d; readout %d", len(got), len(res.Rows))
		}
		for i, d := range got {
			r := &res.Rows[i]
			if d["model_id"] != r.Key.ModelID {
				t.Fatalf("row %d: DuckDB model %v; readout %q", i, d["model_id"], r.Key.ModelID)
			}
			for _, c := range []struct {
				name string
				want int64
			}{{"requests", r.Requests}, {"errors", r.Errors}, {"input_tokens", r.InputTokens}, {"output_tokens", r.OutputTokens}, {"streamed", r.Streamed}} {
				if g, err := num(t, d[c.name]).Int64(); err != nil || g != c.want {
					t.Fatalf("%s %s: DuckDB %v; readout %d", r.Key.ModelID, c.name, d[c.name], c.want)
				}
			}
			if g, err := num(t, d["neurons"]).Float64(); err != nil || !closeRel(g, r.Neurons, 1e-9) {
				t.Fatalf("%s neurons: DuckDB %v; readout %v", r.Key.ModelID, d["neurons"], r.Neurons)
			}
		}
	})

	t.Run("schema", func(t *testing.T) {
		types := make(map[string]string)
		for _, d := range duckDB(t, "--schema", out) {
			types[d["column_name"].(string)] = d["column_type"].(string)
		}
		for col, want := range map[string]string{
			"model_id": "VARCHAR", "request_source": "VARCHAR", "backend": "VARCHAR",
			"account_id": "UBIGINT", "requests": "BIGINT", "neurons": "DOUBLE", "request_time_ms_sketch": "BLOB",
		} {
			if types[col] != want {
				t.Fatalf("column %s: DuckDB type %q; want %q (all: %v)", col, types[col], want, types)
			}
		}
		if !strings.HasPrefix(types["window_start"], "TIMESTAMP") {
			t.Fatalf("window_start: DuckDB type %q; want a TIMESTAMP", types["window_start"])
		}
		t.Logf("window_start is %s; hive columns date %s, hour %s", types["window_start"], types["date"], types["hour"])
	})

	t.Run("audit", func(t *testing.T) {
		want, err := Audit(out)
		if err != nil {
			t.Fatal(err)
		}
		got := duckDB(t, "--audit", out)
		if len(got) != len(want) {
			t.Fatalf("unexpected emitters; DuckDB %v; readout %+v", got, want)
		}
		for i, d := range got {
			w := want[i]
			for _, c := range []struct {
				name string
				want int64
			}{{"sent", w.Sent}, {"received", w.Received}, {"dropped", w.Dropped}, {"duplicates", w.Duplicates}} {
				if g, err := num(t, d[c.name]).Int64(); err != nil || g != c.want {
					t.Fatalf("%s %s: DuckDB %v; readout %d", w.EmitterID, c.name, d[c.name], c.want)
				}
			}
			if d["emitter_id"] != w.EmitterID || d["closed"] != w.Closed {
				t.Fatalf("emitter %d: DuckDB %v; readout %+v", i, d, w)
			}
		}
	})
}

// sqlGlob is the DuckDB expression that reads a table's files.
func sqlGlob(out string, d *table.Desc) string {
	return "read_parquet('" + strings.ReplaceAll(d.Dir(out), "'", "''") + "/**/*.parquet', hive_partitioning = true)"
}

// DuckDB, reading each stream table's files with the SQL of
// docs/parquet-schema.md, agrees with readout query on every key but the
// sketched quantiles (DuckDB cannot merge readout's sketches); for setup
// runs, quantile_disc gives the exact quantiles readout gives.
func TestDuckDBReadsStreamTables(t *testing.T) {
	out := t.TempDir()
	writeSplit(t, out, table.InstanceState, genReports(41, 1500), reportKey, reportRow, 3, 2)
	writeSplit(t, out, table.Predictions, genPredictions(42, 1500), predictionKey, predictionRow, 3, 2)
	writeSplit(t, out, table.Downloads, genDownloads(43, 1500), downloadKey, downloadRow, 3, 2)
	writeScattered(t, out, table.SetupRuns, genSetupRuns(44, 800), setupRunKey, 3)
	for _, tc := range []struct {
		table   string
		groupBy []string
		sql     string
	}{
		{table.InstanceStateDir, []string{"deployment_key"}, `
			SELECT deployment_key,
			       sum(reports)::BIGINT AS reports, sum(instances)::BIGINT AS instances,
			       sum(active_ns)::DOUBLE / 1e9 AS active_s, sum(boot_ns)::DOUBLE / 1e9 AS boot_s,
			       sum(idle_ns)::DOUBLE / 1e9 AS idle_s, sum(duration_ns)::DOUBLE / 1e9 AS duration_s,
			       sum(active_ns)::DOUBLE / sum(duration_ns)::DOUBLE AS utilization,
			       sum(concurrency_ns)::DOUBLE / sum(duration_ns)::DOUBLE AS mean_concurrency
			FROM ` + sqlGlob(out, table.InstanceState) + ` GROUP BY 1 ORDER BY 1`},
		{table.PredictionsDir, []string{"deployment_key", "status"}, `
			SELECT deployment_key, status,
			       sum(predictions)::BIGINT AS predictions, sum(succeeded)::BIGINT AS succeeded,
			       sum(failed)::BIGINT AS failed, sum(canceled)::BIGINT AS canceled, sum(aborted)::BIGINT AS aborted,
			       sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
			       sum(images)::BIGINT AS images,
			       coalesce(sum(predict_time_ns)::DOUBLE / nullif(sum(started), 0) / 1e6, 0) AS predict_time_ms_mean
			FROM ` + sqlGlob(out, table.Predictions) + ` GROUP BY ALL ORDER BY ALL`},
		{table.DownloadsDir, []string{"url"}, `
			SELECT url,
			       sum(downloads)::BIGINT AS downloads, sum(errors)::BIGINT AS errors, sum(bytes)::BIGINT AS bytes,
			       sum(bytes)::DOUBLE / (sum(duration_us)::DOUBLE / 1e6) AS bytes_per_second,
			       sum(duration_us)::DOUBLE / 1e3 / sum(downloads)::DOUBLE AS duration_ms_mean
			FROM ` + sqlGlob(out, table.Downloads) + ` GROUP BY 1 ORDER BY 1`},
		{table.SetupRunsDir, []string{"deployment_key", "status"}, `
			SELECT deployment_key, status, count(*) AS runs,
			       coalesce(quantile_disc(duration_ms, 0.5) FILTER (WHERE epoch_us(started_at) > 0), 0) AS duration_ms_p50,
			       coalesce(quantile_disc(duration_ms, 0.99) FILTER (WHERE epoch_us(started_at) > 0), 0) AS duration_ms_p99,
			       coalesce(quantile_disc(scheduled_to_ready_ms, 0.5) FILTER (WHERE epoch_us(scheduled_at) > 0), 0) AS scheduled_to_ready_ms_p50,
			       coalesce(quantile_disc(scheduled_to_ready_ms, 0.99) FILTER (WHERE epoch_us(scheduled_at) > 0), 0) AS scheduled_to_ready_ms_p99
			FROM ` + sqlGlob(out, table.SetupRuns) + ` GROUP BY ALL ORDER BY ALL`},
	} {
		t.Run(tc.table, func(t *testing.T) {
			_, got := runJSON(t, Options{Dir: out, Table: tc.table, GroupBy: tc.groupBy})
			want := duckDBSQL(t, tc.sql)
			if len(got) != len(want) || len(got) < 2 {
				t.Fatalf("unexpected group count; readout %d; DuckDB %d", len(got), len(want))
			}
			for i, d := range want {
				r := got[i]
				for k, v := range d {
					if s, ok := v.(string); ok {
						if r[k] != s {
							t.Fatalf("row %d: %s: readout %v; DuckDB %q", i, k, r[k], s)
						}
						continue
					}
					w, err := num(t, v).Float64()
					if err != nil {
						t.Fatal(err)
					}
					if g, ok := r[k].(float64); !ok || !closeRel(g, w, 1e-9) {
						t.Fatalf("row %d (%v): %s: readout %v; DuckDB %v", i, d, k, r[k], w)
					}
				}
			}
		})
	}
}
