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
	dir := filepath.Join("..", "test", "duckdb")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("DuckDB check cannot run (run npm ci in test/duckdb): %v", err)
		}
		t.Skipf("DuckDB check skipped (run npm ci in test/duckdb): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, "totals.mjs")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node totals.mjs %v: %v: %s", args, err, stderr.String())
	}
	var rows []map[string]any
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad output of totals.mjs: %v", err)
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
