// Package e2e runs readout's real binaries together: loadgen's emitters, a
// forwarder and a collector as processes on real sockets, files and HTTP,
// and checks the output against what the emitters say they sent.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := pipeline.BuildBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	root, err := pipeline.RepoRoot()
	if err != nil {
		panic(err) // TestMain found it already
	}
	return root
}

func newPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(binDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.KillAll()
		if t.Failed() {
			for _, proc := range []*pipeline.Process{p.Forwarder, p.Collector} {
				if proc != nil {
					t.Logf("%s log tail:\n%s", proc.Name, proc.Tail(3000))
				}
			}
		}
	})
	return p
}

// verify checks that the query totals per model equal loadgen's truth and
// that the audit explains every seq of emitters that all closed.
func verify(t *testing.T, ctx context.Context, p *pipeline.Pipeline, truthPath string) *truth.File {
	t.Helper()
	tr := checkInferenceTruth(t, ctx, p, truthPath)
	if audit, open := checkAudit(t, ctx, p); len(audit) == 0 || open != 0 {
		t.Errorf("audit lists %d emitters, %d not closed cleanly: %v", len(audit), open, audit)
	}
	return tr
}

// checkInferenceTruth checks that the query totals per model equal the
// truth in truthPath, and returns the truth.
func checkInferenceTruth(t *testing.T, ctx context.Context, p *pipeline.Pipeline, truthPath string) *truth.File {
	t.Helper()
	tr, err := truth.Read(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := p.QueryJSON(ctx, "--group-by", "model_id")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pipeline.TotalsByModel(rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.CompareTotals(tr.ByModel, got); err != nil {
		t.Fatalf("query totals differ from loadgen's truth: %v", err)
	}
	return tr
}

// checkAudit fails the test for any unexplained seq and returns the audit
// rows and how many emitters did not close.
func checkAudit(t *testing.T, ctx context.Context, p *pipeline.Pipeline) (audit []map[string]any, open int) {
	t.Helper()
	audit, err := p.AuditJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range audit {
		if n := r["unexplained"].(json.Number).String(); n != "0" {
			t.Errorf("emitter %v: %s unexplained events (row %v)", r["emitter_id"], n, r)
		}
		if c, _ := r["closed"].(bool); !c {
			open++
		}
	}
	return audit, open
}

func TestPipelineTruthEqualsQuery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := newPipeline(t)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	if err := p.Loadgen(ctx, nil, "--events", "200000", "--seed", "7", "--truth", truthPath); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}
	tr := verify(t, ctx, p, truthPath)
	if tr.Total.Requests != 200000 {
		t.Fatalf("loadgen sent %d events; want 200000 (it waits instead of dropping)", tr.Total.Requests)
	}
	checkDuckDB(t, p, tr)
}

func TestForwarderStartsAfterEmitters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := newPipeline(t)
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := make(chan error, 1)
	go func() {
		done <- p.Loadgen(ctx, nil, "--events", "20000", "--seed", "3", "--rate", "20000",
			"--reconnect-interval", "200ms", "--truth", truthPath)
	}()
	time.Sleep(1500 * time.Millisecond) // the emitters start with no forwarder to talk to
	if err := p.StartForwarder(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}
	verifyWithDrops(t, ctx, p, truthPath)
}

func TestCollectorRestartMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := newPipeline(t)
	// Loopback defaults to uncompressed bodies; keep the zstd path covered
	// end to end here.
	p.ForwarderFlags = []string{"--compress", "zstd"}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := make(chan error, 1)
	go func() {
		done <- p.Loadgen(ctx, nil, "--events", "60000", "--seed", "5", "--rate", "20000", "--truth", truthPath)
	}()
	time.Sleep(time.Second)
	p.Collector.Kill() // kill -9 mid-run: the forwarder's spool holds what it cannot ship
	time.Sleep(500 * time.Millisecond)
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}
	tr := verify(t, ctx, p, truthPath)
	if tr.Total.Requests != 60000 {
		t.Fatalf("loadgen sent %d events; want 60000", tr.Total.Requests)
	}
}

// verifyWithDrops is verify for runs where emitters may drop events: the
// truth counts only what was sent, and the audit must explain every drop.
func verifyWithDrops(t *testing.T, ctx context.Context, p *pipeline.Pipeline, truthPath string) {
	t.Helper()
	tr := verify(t, ctx, p, truthPath)
	if tr.Total.Requests == 0 {
		t.Fatal("nothing was sent")
	}
}

// checkDuckDB reads the Parquet output with DuckDB, as a user would, and
// compares its totals with loadgen's truth.
func checkDuckDB(t *testing.T, p *pipeline.Pipeline, tr *truth.File) {
	t.Helper()
	script := filepath.Join(repoRoot(), "test", "duckdb", "totals.mjs")
	if _, err := os.Stat(filepath.Join(repoRoot(), "test", "duckdb", "node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("DuckDB for Node is not installed (run make test-deps): %v", err)
		}
		t.Log("skipping the DuckDB check: test/duckdb/node_modules is missing (make test-deps installs it)")
		return
	}
	out, err := exec.Command("node", script, p.Out).Output()
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	got := map[string]truth.Totals{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("DuckDB output line %q: %v", sc.Text(), err)
		}
		m, _ := r["model_id"].(string)
		tt, err := pipeline.TotalsByModel([]map[string]any{r})
		if err != nil {
			t.Fatalf("DuckDB row %v: %v", r, err)
		}
		got[m] = tt[m]
	}
	if err := pipeline.CompareTotals(tr.ByModel, got); err != nil {
		t.Fatalf("DuckDB totals differ from loadgen's truth: %v", err)
	}
}
