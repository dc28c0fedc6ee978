package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// TestStreamsEndToEnd: model instances report instance state, setup runs,
// predictions and downloads through the libraries (instancestate,
// setuprun, prediction, the emitter) and the forwarder's JSON endpoints,
// beside an inference fleet, while the collector and then the forwarder
// are killed with SIGKILL and restarted. Every stream table then equals
// what the instances sent, to the nanosecond, in `readout query` and in
// DuckDB, and the audit explains every seq.
func TestStreamsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := newPipeline(t)
	report, err := pipeline.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p.ForwarderFlags = []string{"--report-addr", report}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// An inference fleet runs throughout, so that both kills strike
	// mid-run with emitters connected.
	infTruth := filepath.Join(p.Dir, "inference.json")
	infDone := make(chan error, 1)
	go func() {
		infDone <- p.Loadgen(ctx, nil, "--events", "60000", "--seed", "3", "--rate", "15000", "--truth", infTruth)
	}()
	instances := func(seed int) *truth.Streams {
		t.Helper()
		path := filepath.Join(p.Dir, "instances-"+strconv.Itoa(seed)+".json")
		if err := p.Loadgen(ctx, nil, "--streams", "instances", "--instances", "8", "--seed", strconv.Itoa(seed),
			"--report-addr", report, "--truth", path); err != nil {
			t.Fatal(err)
		}
		tr, err := truth.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Streams
	}
	// Each instance fleet's loadgen returns once every event is durable in
	// the forwarder's spool (emitters closed, JSON answered 200); the
	// kill right after finds its events on their way: in the spool, the
	// collector's WAL or its open windows.
	want := instances(1)
	p.Collector.Kill()
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	want.Merge(instances(2))
	p.Forwarder.Kill()
	if err := p.StartForwarder(ctx); err != nil {
		t.Fatal(err)
	}
	want.Merge(instances(3))
	if err := <-infDone; err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	if err := p.CheckStreams(ctx, want); err != nil {
		t.Fatalf("stream tables differ from what the instances sent:\n%v", err)
	}
	checkStreamsDuckDB(t, p, want)
	checkInferenceTruth(t, ctx, p, infTruth)
	audit, open := checkAudit(t, ctx, p)
	// 4 inference emitters, 24 instances, and one report identity per
	// forwarder process; only the killed forwarder's never closed.
	if len(audit) != 4+24+2 || open != 1 {
		t.Fatalf("audit lists %d emitters, %d open; want 30, 1 open (the killed forwarder's JSON reports): %v", len(audit), open, audit)
	}
}

// checkStreamsDuckDB sums the stream tables with DuckDB, as a user would,
// and compares the sums with the truth.
func checkStreamsDuckDB(t *testing.T, p *pipeline.Pipeline, want *truth.Streams) {
	t.Helper()
	dir := filepath.Join(repoRoot(), "test", "duckdb")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("DuckDB for Node is not installed (run make test-deps): %v", err)
		}
		t.Log("skipping the DuckDB check: test/duckdb/node_modules is missing (make test-deps installs it)")
		return
	}
	out, err := exec.Command("node", filepath.Join(dir, "totals.mjs"), "--streams", p.Out).Output()
	if err != nil {
		t.Fatalf("node totals.mjs --streams: %v", err)
	}
	// Each line is the table, the key, and the truth type's fields under
	// the truth file's names: decoding into the truth types compares them.
	got := truth.NewStreams()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var head struct{ Table, Key string }
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("DuckDB line %q: %v", sc.Text(), err)
		}
		var err error
		switch head.Table {
		case "instance_state":
			var v truth.InstanceState
			err = json.Unmarshal(sc.Bytes(), &v)
			got.InstanceState[head.Key] = v
		case "predictions":
			var v truth.Predictions
			err = json.Unmarshal(sc.Bytes(), &v)
			got.Predictions[head.Key] = v
		case "setup_runs":
			var v truth.SetupRuns
			err = json.Unmarshal(sc.Bytes(), &v)
			got.SetupRuns[head.Key] = v
		case "downloads":
			var v truth.Downloads
			err = json.Unmarshal(sc.Bytes(), &v)
			got.Downloads[head.Key] = v
		}
		if err != nil {
			t.Fatalf("DuckDB line %q: %v", sc.Text(), err)
		}
	}
	// DuckDB counts runs, not statuses: compare the run counts alone.
	wantRuns := map[string]int64{}
	for k, v := range want.SetupRuns {
		wantRuns[k] = v.Runs
	}
	gotRuns := map[string]int64{}
	for k, v := range got.SetupRuns {
		gotRuns[k] = v.Runs
	}
	for name, pair := range map[string][2]any{
		"instance_state": {want.InstanceState, got.InstanceState},
		"predictions":    {want.Predictions, got.Predictions},
		"setup_runs":     {wantRuns, gotRuns},
		"downloads":      {want.Downloads, got.Downloads},
	} {
		w, _ := json.Marshal(pair[0])
		g, _ := json.Marshal(pair[1])
		if !bytes.Equal(w, g) {
			t.Errorf("DuckDB's %s sums differ from the truth:\n got  %s\n want %s", name, g, w)
		}
	}
}
