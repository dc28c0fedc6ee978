package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

var ws = time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC)

// fixture writes an output directory: two files in one partition holding
// partial rows of the same key, one file in the next day, and an audit
// table with a gap.
func fixture(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	row := func(model string, at time.Time, requests int64, ms ...float64) table.InferenceRow {
		s := sketch.New()
		var sum float64
		for _, v := range ms {
			s.Add(v)
			sum += v
		}
		return table.InferenceRow{WindowStart: at, WindowSeconds: 60, ModelID: model, AccountID: 42, RequestSource: "worker",
			Backend: "vllm", Requests: requests, Errors: 1, Neurons: 0.5, InputTokens: 10, OutputTokens: 3,
			RequestTimeMsSum: sum, RequestTimeMsSketch: s.AppendBinary(nil)}
	}
	write := func(at time.Time, name string, rows ...table.InferenceRow) {
		if err := table.WriteInference(filepath.Join(table.PartitionDir(out, at), name), rows); err != nil {
			t.Fatal(err)
		}
	}
	write(ws, "a.parquet", row("m1", ws, 2, 10, 20), row("m2", ws, 1, 5))
	write(ws, "b.parquet", row("m1", ws, 1, 30), row("m1", ws.Add(time.Minute), 1, 40))
	write(ws.Add(24*time.Hour), "c.parquet", row("m2", ws.Add(24*time.Hour), 3, 1, 2, 3))
	if err := table.WriteAudit(filepath.Join(out, table.AuditDir, "c1.parquet"), []table.AuditRow{
		{EmitterID: "e1", FirstSeq: 1, LastSeq: 10, Received: 10, Closed: true},
		{EmitterID: "e2", FirstSeq: 1, LastSeq: 10, Received: 6, Dropped: 1},
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func call(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestQueryCommand(t *testing.T) {
	out := fixture(t)
	cases := []struct {
		name string
		args []string
		want []map[string]any // subset of each row's keys
	}{
		{"by model", []string{"--group-by", "model_id"}, []map[string]any{
			{"model_id": "m1", "requests": 4.0, "errors": 3.0, "request_time_ms_mean": 25.0},
			{"model_id": "m2", "requests": 4.0, "errors": 2.0, "neurons": 1.0},
		}},
		{"total", nil, []map[string]any{{"requests": 8.0, "input_tokens": 50.0}}},
		{"one day", []string{"--from", "2026-11-27", "--to", "2026-11-28"}, []map[string]any{{"requests": 5.0}}},
		{"per day", []string{"--bucket", "1d"}, []map[string]any{
			{"time": "2026-11-27T00:00:00Z", "requests": 5.0},
			{"time": "2026-11-28T00:00:00Z", "requests": 3.0},
		}},
		{"per minute, m1", []string{"--bucket", "1m", "--group-by", "model_id,account_id", "--to", "2026-11-27T13:06:00Z"}, []map[string]any{
			{"time": "2026-11-27T13:05:00Z", "model_id": "m1", "account_id": 42.0, "requests": 3.0},
			{"time": "2026-11-27T13:05:00Z", "model_id": "m2", "requests": 1.0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := call(append([]string{"query", "--dir", out, "--format", "json"}, tc.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
			}
			rows := jsonLines(t, stdout)
			if len(rows) != len(tc.want) {
				t.Fatalf("unexpected rows; got %v; want %v", rows, tc.want)
			}
			for i, w := range tc.want {
				for k, v := range w {
					if rows[i][k] != v {
						t.Fatalf("row %d: %s = %v; want %v (row %v)", i, k, rows[i][k], v, rows[i])
					}
				}
			}
		})
	}
	for _, format := range []string{"table", "csv"} {
		code, stdout, stderr := call("query", "--dir", out, "--group-by", "model_id", "--format", format)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "m1") || !strings.HasPrefix(stdout, "model_id") {
			t.Fatalf("%s: unexpected exit %d, stdout %q, stderr %q", format, code, stdout, stderr)
		}
	}
}

// Warnings go to stderr and never mix with the rows on stdout.
func TestQueryWarnsOnStderr(t *testing.T) {
	out := fixture(t)
	code, stdout, stderr := call("query", "--dir", out, "--format", "json", "--from", "2030-01-01")
	if code != 0 || !strings.Contains(stderr, "no rows in the time range") {
		t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
	}
	if rows := jsonLines(t, stdout); len(rows) != 1 || rows[0]["requests"] != 0.0 {
		t.Fatalf("unexpected stdout %q", stdout)
	}
}

func TestErrors(t *testing.T) {
	out := fixture(t)
	empty := t.TempDir()
	corrupt := fixture(t)
	bad := filepath.Join(table.PartitionDir(corrupt, ws), "z.parquet")
	if err := os.WriteFile(bad, []byte("PAR1garbagePAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A damaged file found by fuzzing: one column's codec flipped from ZSTD
	// to LZ4_RAW made the Parquet library allocate until the process died.
	hostile := fixture(t)
	lz4 := filepath.Join(table.PartitionDir(hostile, ws), "z.parquet")
	if err := os.WriteFile(lz4, corpusInput(t, filepath.Join("..", "..", "query", "testdata", "fuzz", "FuzzReadInference", "lz4-codec-flip-oom")), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frob"}, `unknown command "frob"`},
		{"no dir", []string{"query"}, "--dir is required"},
		{"unknown flag", []string{"query", "--dir", out, "--colour"}, "flag provided but not defined: -colour"},
		{"flag without value", []string{"query", "--dir"}, "flag needs an argument: -dir"},
		{"stray argument", []string{"query", "--dir", out, "model_id"}, `unexpected argument "model_id"`},
		{"unknown dimension", []string{"query", "--dir", out, "--group-by", "model_id,colo"}, `unknown dimension "colo"`},
		{"unknown table", []string{"query", "--dir", out, "--table", "nope"}, `unknown table "nope"`},
		{"audit table", []string{"query", "--dir", out, "--table", "audit"}, "readout audit"},
		{"bad time", []string{"query", "--dir", out, "--from", "yesterday"}, `--from: bad time "yesterday"`},
		{"bad to", []string{"query", "--dir", out, "--to", "2026-13-01"}, `--to: bad time`},
		{"empty range", []string{"query", "--dir", out, "--from", "2026-11-28", "--to", "2026-11-28"}, "is not before --to"},
		{"bad bucket", []string{"query", "--dir", out, "--bucket", "5m"}, `bad bucket "5m"`},
		{"bad format", []string{"query", "--dir", out, "--format", "xml"}, `bad format "xml"`},
		{"missing dir", []string{"query", "--dir", filepath.Join(empty, "nope")}, "does not exist"},
		{"empty dir", []string{"query", "--dir", empty}, "no inference files under " + filepath.Join(empty, "inference")},
		{"corrupt file", []string{"query", "--dir", corrupt}, "corrupt file " + bad},
		{"hostile file", []string{"query", "--dir", hostile}, "corrupt file " + lz4 + ": row group 0, column streamed: page 0 at offset 1044: decompress LZ4_RAW page"},
		{"audit without dir", []string{"audit"}, "--dir is required"},
		{"audit empty", []string{"audit", "--dir", empty}, "no audit files"},
		{"audit bad format", []string{"audit", "--dir", out, "--format", "csv"}, `bad format "csv"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := call(tc.args...)
			if code != exitUsage {
				t.Fatalf("unexpected exit; got %d; want %d (stderr %q)", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Fatalf("stdout not empty: %q", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("unexpected stderr; got %q; want one line containing %q", stderr, tc.want)
			}
		})
	}
}

func TestAuditCommand(t *testing.T) {
	out := fixture(t)
	code, stdout, stderr := call("audit", "--dir", out, "--format", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
	}
	rows := jsonLines(t, stdout)
	if len(rows) != 2 || rows[0]["status"] != "complete" || rows[1]["unexplained"] != 3.0 || rows[1]["status"] != "gaps" {
		t.Fatalf("unexpected audit %v", rows)
	}
	code, stdout, _ = call("audit", "--dir", out)
	if code != 0 || !strings.HasSuffix(stdout, "GAPS: 3 events unexplained in 1 of 2 emitters\n") {
		t.Fatalf("unexpected exit %d, table %q", code, stdout)
	}
	if code, _, _ = call("audit", "--dir", out, "--fail-on-gaps"); code != exitGaps {
		t.Fatalf("unexpected exit with --fail-on-gaps; got %d; want %d", code, exitGaps)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Commands:"},
		{[]string{"help"}, "query"},
		{[]string{"help", "query"}, "Examples:"},
		{[]string{"query", "--help"}, "--group-by DIMS"},
		{[]string{"query", "-h"}, "--bucket"},
		{[]string{"audit", "--help"}, "--fail-on-gaps"},
		{[]string{"version"}, "readout "},
	} {
		code, stdout, stderr := call(tc.args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, tc.want) {
			t.Fatalf("%v: unexpected exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
	if code, _, stderr := call(); code != exitUsage || !strings.Contains(stderr, "Commands:") {
		t.Fatalf("no arguments: unexpected exit %d, stderr %q", code, stderr)
	}
}

// corpusInput reads the []byte of a one-argument Go fuzz corpus file.
func corpusInput(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s is not a one-input fuzz corpus file", path)
	}
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(v)
}
