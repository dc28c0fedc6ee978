package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

var nextDay = ws.Add(24 * time.Hour)

// streamFixture adds to an output directory a few rows of every stream
// table, partial rows of one key split over files and days, with values
// simple enough to compute the answers by hand.
func streamFixture(t *testing.T, out string) {
	t.Helper()
	write := func(d *table.Desc, at time.Time, name string, rows any) {
		t.Helper()
		path := filepath.Join(d.PartitionDir(out, at), name)
		var err error
		switch rows := rows.(type) {
		case []table.InstanceStateRow:
			err = table.Write(path, rows)
		case []table.PredictionRow:
			err = table.Write(path, rows)
		case []table.DownloadRow:
			err = table.Write(path, rows)
		case []table.SetupRunRow:
			err = table.Write(path, rows)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sk := func(ms ...float64) []byte {
		s := sketch.New()
		for _, v := range ms {
			s.Add(v)
		}
		return s.AppendBinary(nil)
	}

	// d1 is busy for a minute on one instance and idle for 15 s on another:
	// 60 / 75 = 80% utilized, where the mean of the two ratios is 50%.
	write(table.InstanceState, ws, "a.parquet", []table.InstanceStateRow{
		{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d1", Hardware: "gpu-a100", ComputeUnit: "gpu", Version: "v1",
			Reports: 4, Instances: 1, ActiveNs: 60e9, DurationNs: 60e9, ConcurrencyNs: 120e9},
	})
	write(table.InstanceState, ws, "b.parquet", []table.InstanceStateRow{
		{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d1", Hardware: "gpu-t4", ComputeUnit: "gpu", Version: "v1",
			Reports: 1, Instances: 1, BootNs: 5e9, IdleNs: 10e9, DurationNs: 15e9},
	})
	write(table.InstanceState, nextDay, "c.parquet", []table.InstanceStateRow{
		{WindowStart: nextDay, WindowSeconds: 60, DeploymentKey: "d2", Hardware: "gpu-a100", ComputeUnit: "gpu", Version: "v2",
			Reports: 2, Instances: 2, ActiveNs: 15e9, IdleNs: 15e9, DurationNs: 30e9, ConcurrencyNs: 15e9},
	})

	write(table.Predictions, ws, "a.parquet", []table.PredictionRow{
		{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d1", Version: "v1", Status: "succeeded",
			Predictions: 3, Succeeded: 3, InputTokens: 30, OutputTokens: 10, Images: 1,
			Started: 3, PredictTimeNs: 600e6, PredictTimeMsSketch: sk(100, 200, 300)},
		{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d1", Version: "v1", Status: "failed", ErrorCode: "E1234",
			Predictions: 1, Failed: 1, InputTokens: 5, Started: 1, PredictTimeNs: 1000e6, PredictTimeMsSketch: sk(1000)},
	})
	write(table.Predictions, ws, "b.parquet", []table.PredictionRow{
		{WindowStart: ws, WindowSeconds: 60, DeploymentKey: "d1", Version: "v1", Status: "succeeded",
			Predictions: 1, Succeeded: 1, InputTokens: 7, OutputTokens: 2, Started: 1, PredictTimeNs: 400e6, PredictTimeMsSketch: sk(400)},
	})
	write(table.Predictions, nextDay, "c.parquet", []table.PredictionRow{
		{WindowStart: nextDay, WindowSeconds: 60, DeploymentKey: "d2", Version: "v2", Status: "canceled", Predictions: 2, Canceled: 2},
	})

	const hf = "https://huggingface.co/acme/flux/resolve/main/model.safetensors"
	const s3 = "https://weights.s3.amazonaws.com/zeta/llama.tar"
	write(table.Downloads, ws, "a.parquet", []table.DownloadRow{
		{WindowStart: ws, WindowSeconds: 60, Host: "huggingface.co", URL: hf, Downloads: 2, Bytes: 3e9, DurationUs: 2e6, DurationMsSketch: sk(500, 1500)},
	})
	write(table.Downloads, ws, "b.parquet", []table.DownloadRow{
		{WindowStart: ws, WindowSeconds: 60, Host: "huggingface.co", URL: hf, Downloads: 1, Errors: 1, DurationUs: 1e6, DurationMsSketch: sk(1000)},
		{WindowStart: ws, WindowSeconds: 60, Host: "weights.s3.amazonaws.com", URL: s3, Downloads: 1, Bytes: 1e6, DurationUs: 4e6, DurationMsSketch: sk(4000)},
	})

	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	write(table.SetupRuns, ws, "a.parquet", []table.SetupRunRow{
		{WindowStart: ws.Add(time.Minute), WindowSeconds: 60, InstanceID: "i-2", DeploymentKey: "d1", Status: "failed",
			StartedAt: at("2026-11-27T13:06:00Z"), CompletedAt: at("2026-11-27T13:06:30.5Z"), DurationMs: 30500, LogsBytes: 9, Logs: "oomkilled"},
	})
	write(table.SetupRuns, ws, "b.parquet", []table.SetupRunRow{
		{WindowStart: ws, WindowSeconds: 60, InstanceID: "i-1", DeploymentKey: "d1", Status: "ready",
			ScheduledAt: at("2026-11-27T13:04:00Z"), StartedAt: at("2026-11-27T13:04:10Z"), CompletedAt: at("2026-11-27T13:05:10.000123Z"),
			ScheduledToStartedMs: 10000, ScheduledToReadyMs: 70000.123, DurationMs: 60000.123, LogsBytes: 5, Logs: "ready"},
	})
	write(table.SetupRuns, nextDay, "c.parquet", []table.SetupRunRow{
		{WindowStart: nextDay, WindowSeconds: 60, InstanceID: "i-3", DeploymentKey: "d2", Status: "ready",
			ScheduledAt: at("2026-11-28T13:04:00Z"), StartedAt: at("2026-11-28T13:04:30Z"), CompletedAt: at("2026-11-28T13:05:30Z"),
			ScheduledToStartedMs: 30000, ScheduledToReadyMs: 90000, DurationMs: 60000},
	})
}

// TestQueryStreamTables runs `readout query --table` on each stream table
// and checks every key of every row against values computed by hand.
// Sketched quantiles are checked within the sketch's 1%.
func TestQueryStreamTables(t *testing.T) {
	out := fixture(t)
	streamFixture(t, out)
	const utilTotal, concTotal = 75.0 / 105, 135.0 / 105
	cases := []struct {
		name string
		args []string
		want []map[string]any // every key of each row
	}{
		{"instance_state total", []string{"--table", "instance_state"}, []map[string]any{
			{"reports": 7.0, "instances": 4.0, "active_s": 75.0, "boot_s": 5.0, "idle_s": 25.0, "duration_s": 105.0,
				"utilization": utilTotal, "mean_concurrency": concTotal},
		}},
		{"instance_state by deployment", []string{"--table", "instance_state", "--group-by", "deployment_key"}, []map[string]any{
			{"deployment_key": "d1", "reports": 5.0, "instances": 2.0, "active_s": 60.0, "boot_s": 5.0, "idle_s": 10.0, "duration_s": 75.0,
				"utilization": 0.8, "mean_concurrency": 1.6},
			{"deployment_key": "d2", "reports": 2.0, "instances": 2.0, "active_s": 15.0, "boot_s": 0.0, "idle_s": 15.0, "duration_s": 30.0,
				"utilization": 0.5, "mean_concurrency": 0.5},
		}},
		{"instance_state where, per day", []string{"--table", "instance_state", "--where", "hardware=gpu-a100", "--group-by", "version", "--bucket", "1d"}, []map[string]any{
			{"time": "2026-11-27T00:00:00Z", "version": "v1", "reports": 4.0, "instances": 1.0, "active_s": 60.0, "boot_s": 0.0, "idle_s": 0.0,
				"duration_s": 60.0, "utilization": 1.0, "mean_concurrency": 2.0},
			{"time": "2026-11-28T00:00:00Z", "version": "v2", "reports": 2.0, "instances": 2.0, "active_s": 15.0, "boot_s": 0.0, "idle_s": 15.0,
				"duration_s": 30.0, "utilization": 0.5, "mean_concurrency": 0.5},
		}},
		{"predictions by status", []string{"--table", "predictions", "--group-by", "status"}, []map[string]any{
			{"status": "canceled", "predictions": 2.0, "succeeded": 0.0, "failed": 0.0, "canceled": 2.0, "aborted": 0.0,
				"input_tokens": 0.0, "output_tokens": 0.0, "images": 0.0,
				"predict_time_ms_p50": 0.0, "predict_time_ms_p90": 0.0, "predict_time_ms_p99": 0.0, "predict_time_ms_mean": 0.0},
			{"status": "failed", "predictions": 1.0, "succeeded": 0.0, "failed": 1.0, "canceled": 0.0, "aborted": 0.0,
				"input_tokens": 5.0, "output_tokens": 0.0, "images": 0.0,
				"predict_time_ms_p50": approx(1000), "predict_time_ms_p90": approx(1000), "predict_time_ms_p99": approx(1000), "predict_time_ms_mean": 1000.0},
			{"status": "succeeded", "predictions": 4.0, "succeeded": 4.0, "failed": 0.0, "canceled": 0.0, "aborted": 0.0,
				"input_tokens": 37.0, "output_tokens": 12.0, "images": 1.0,
				// The merged sketch holds 100, 200, 300 and 400: rank floor(q × 3).
				"predict_time_ms_p50": approx(200), "predict_time_ms_p90": approx(300), "predict_time_ms_p99": approx(300), "predict_time_ms_mean": 250.0},
		}},
		{"predictions where", []string{"--table", "predictions", "--where", "deployment_key=d1,status=failed", "--group-by", "error_code,version"}, []map[string]any{
			{"error_code": "E1234", "version": "v1", "predictions": 1.0, "succeeded": 0.0, "failed": 1.0, "canceled": 0.0, "aborted": 0.0,
				"input_tokens": 5.0, "output_tokens": 0.0, "images": 0.0,
				"predict_time_ms_p50": approx(1000), "predict_time_ms_p90": approx(1000), "predict_time_ms_p99": approx(1000), "predict_time_ms_mean": 1000.0},
		}},
		{"downloads by host", []string{"--table", "downloads", "--group-by", "host"}, []map[string]any{
			// The merged sketch holds 500, 1000 and 1500: rank floor(q × 2).
			{"host": "huggingface.co", "downloads": 3.0, "errors": 1.0, "bytes": 3e9, "bytes_per_second": 1e9,
				"duration_ms_p50": approx(1000), "duration_ms_p90": approx(1000), "duration_ms_p99": approx(1000), "duration_ms_mean": 1000.0},
			{"host": "weights.s3.amazonaws.com", "downloads": 1.0, "errors": 0.0, "bytes": 1e6, "bytes_per_second": 250000.0,
				"duration_ms_p50": approx(4000), "duration_ms_p90": approx(4000), "duration_ms_p99": approx(4000), "duration_ms_mean": 4000.0},
		}},
		{"downloads where url", []string{"--table", "downloads", "--where", "url=https://weights.s3.amazonaws.com/zeta/llama.tar"}, []map[string]any{
			{"downloads": 1.0, "errors": 0.0, "bytes": 1e6, "bytes_per_second": 250000.0,
				"duration_ms_p50": approx(4000), "duration_ms_p90": approx(4000), "duration_ms_p99": approx(4000), "duration_ms_mean": 4000.0},
		}},
		{"setup_runs listed", []string{"--table", "setup_runs"}, []map[string]any{
			{"instance_id": "i-1", "deployment_key": "d1", "status": "ready", "started_at": "2026-11-27T13:04:10Z", "completed_at": "2026-11-27T13:05:10.000123Z",
				"scheduled_to_started_ms": 10000.0, "scheduled_to_ready_ms": 70000.123, "duration_ms": 60000.123, "logs_bytes": 5.0},
			{"instance_id": "i-2", "deployment_key": "d1", "status": "failed", "started_at": "2026-11-27T13:06:00Z", "completed_at": "2026-11-27T13:06:30.5Z",
				"scheduled_to_started_ms": 0.0, "scheduled_to_ready_ms": 0.0, "duration_ms": 30500.0, "logs_bytes": 9.0},
			{"instance_id": "i-3", "deployment_key": "d2", "status": "ready", "started_at": "2026-11-28T13:04:30Z", "completed_at": "2026-11-28T13:05:30Z",
				"scheduled_to_started_ms": 30000.0, "scheduled_to_ready_ms": 90000.0, "duration_ms": 60000.0, "logs_bytes": 0.0},
		}},
		{"setup_runs where, one day", []string{"--table", "setup_runs", "--where", "status=ready", "--from", "2026-11-27", "--to", "2026-11-28"}, []map[string]any{
			{"instance_id": "i-1", "deployment_key": "d1", "status": "ready", "started_at": "2026-11-27T13:04:10Z", "completed_at": "2026-11-27T13:05:10.000123Z",
				"scheduled_to_started_ms": 10000.0, "scheduled_to_ready_ms": 70000.123, "duration_ms": 60000.123, "logs_bytes": 5.0},
		}},
		{"setup_runs by deployment", []string{"--table", "setup_runs", "--group-by", "deployment_key"}, []map[string]any{
			// d1's durations are 30500 and 60000.123 (nearest rank: p50 the
			// first, p99 the second); only i-1 has a scheduled time.
			{"deployment_key": "d1", "runs": 2.0, "duration_ms_p50": 30500.0, "duration_ms_p99": 60000.123,
				"scheduled_to_ready_ms_p50": 70000.123, "scheduled_to_ready_ms_p99": 70000.123},
			{"deployment_key": "d2", "runs": 1.0, "duration_ms_p50": 60000.0, "duration_ms_p99": 60000.0,
				"scheduled_to_ready_ms_p50": 90000.0, "scheduled_to_ready_ms_p99": 90000.0},
		}},
		{"setup_runs by status, per day", []string{"--table", "setup_runs", "--group-by", "status", "--bucket", "1d", "--where", "deployment_key=d1"}, []map[string]any{
			{"time": "2026-11-27T00:00:00Z", "status": "failed", "runs": 1.0, "duration_ms_p50": 30500.0, "duration_ms_p99": 30500.0,
				"scheduled_to_ready_ms_p50": 0.0, "scheduled_to_ready_ms_p99": 0.0},
			{"time": "2026-11-27T00:00:00Z", "status": "ready", "runs": 1.0, "duration_ms_p50": 60000.123, "duration_ms_p99": 60000.123,
				"scheduled_to_ready_ms_p50": 70000.123, "scheduled_to_ready_ms_p99": 70000.123},
		}},
		{"inference where", []string{"--where", "model_id=m1", "--group-by", "account_id"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := call(append([]string{"query", "--dir", out, "--format", "json"}, tc.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
			}
			rows := jsonLines(t, stdout)
			if tc.want == nil { // inference: m1 has 4 requests, all of account 42
				if len(rows) != 1 || rows[0]["account_id"] != 42.0 || rows[0]["requests"] != 4.0 {
					t.Fatalf("unexpected rows %v", rows)
				}
				return
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("unexpected rows; got %v; want %v", rows, tc.want)
			}
			for i, w := range tc.want {
				if len(rows[i]) != len(w) {
					t.Fatalf("row %d: unexpected keys; got %v; want %v", i, rows[i], w)
				}
				for k, v := range w {
					got := rows[i][k]
					if a, ok := v.(approx); ok {
						g, ok := got.(float64)
						if !ok || math.Abs(g-float64(a)) > 0.01*float64(a) {
							t.Fatalf("row %d: %s = %v; want %v within 1%%", i, k, got, float64(a))
						}
					} else if g, ok := got.(float64); ok && v != got && math.Abs(g-v.(float64)) > 1e-12*math.Abs(g) {
						t.Fatalf("row %d: %s = %v; want %v (row %v)", i, k, got, v, rows[i])
					} else if !ok && v != got {
						t.Fatalf("row %d: %s = %v; want %v (row %v)", i, k, got, v, rows[i])
					}
				}
			}
		})
	}
	for _, format := range []string{"table", "csv"} {
		code, stdout, stderr := call("query", "--dir", out, "--table", "instance_state", "--group-by", "deployment_key", "--format", format)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "deployment_key") || !strings.Contains(stdout, "mean_concurrency") || !strings.Contains(stdout, "0.8") {
			t.Fatalf("%s: unexpected exit %d, stdout %q, stderr %q", format, code, stdout, stderr)
		}
	}
	code, stdout, _ := call("query", "--dir", out, "--table", "setup_runs", "--where", "deployment_key=d1", "--format", "table")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 3 || !strings.Contains(lines[2], "i-2") || !strings.Contains(lines[0], "started_at") {
		t.Fatalf("setup_runs table: unexpected exit %d, stdout %q", code, stdout)
	}
}

// approx is a value a sketch estimates: the test accepts it within 1%.
type approx float64

func TestQueryStreamErrors(t *testing.T) {
	out := fixture(t)
	streamFixture(t, out)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown table", []string{"--table", "predicitons"}, `unknown table "predicitons" (want one of inference, instance_state, predictions, downloads, setup_runs, lifecycle)`},
		{"where without =", []string{"--where", "status"}, `invalid value "status" for flag -where: bad condition "status" (want KEY=VALUE`},
		{"where key of another table", []string{"--table", "predictions", "--where", "model_id=m1"},
			`--where: unknown dimension "model_id" for table predictions (want one of deployment_key, version, status, error_code)`},
		{"where key not a dimension", []string{"--where", "requests=4"},
			`--where: unknown dimension "requests" for table inference (want one of model_id, account_id, colo_id, request_source, error_code, backend)`},
		{"where bad number", []string{"--where", "colo_id=x"}, "--where: colo_id=x: want an unsigned 32-bit integer"},
		{"where bad enum", []string{"--table", "setup_runs", "--where", "status=done"}, "--where: status=done: want one of unknown, ready, failed, timeout"},
		{"where twice", []string{"--table", "downloads", "--where", "host=a", "--where", "host=b"}, `--where: dimension "host" is given twice`},
		{"group-by of another table", []string{"--table", "downloads", "--group-by", "deployment_key"}, `--group-by: unknown dimension "deployment_key" for table downloads (want some of host, url)`},
		{"setup runs bucket", []string{"--table", "setup_runs", "--bucket", "1h"}, "--bucket with --table setup_runs needs --group-by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := call(append([]string{"query", "--dir", out}, tc.args...)...)
			if code != exitUsage || stdout != "" {
				t.Fatalf("unexpected exit %d, stdout %q; want %d and none", code, stdout, exitUsage)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("unexpected stderr; got %q; want one line containing %q", stderr, tc.want)
			}
		})
	}
	empty := t.TempDir()
	code, _, stderr := call("query", "--dir", empty, "--table", "downloads")
	if code != exitUsage || !strings.Contains(stderr, "no downloads files under "+filepath.Join(empty, "downloads")) {
		t.Fatalf("unexpected exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := call("query", "--help")
	for _, want := range []string{"--table NAME", "--where CONDS", "instance_state", "setup_runs", "--where deployment_key=acme/flux,status=failed"} {
		if code != 0 || stderr != "" || !strings.Contains(stdout, want) {
			t.Fatalf("help lacks %q: exit %d, stdout %q", want, code, stdout)
		}
	}
}
