package diskfault

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	walErrors      = "readout_collector_wal_errors_total"
	walTorn        = "readout_collector_wal_torn_tails_total"
	walQuarantined = "readout_collector_wal_quarantined_segments_total"
	flushErrors    = "readout_collector_flush_errors_total"
)

// labeled reads one labeled sample, e.g. name `readout_collector_batches_total`
// and labels `code="503"`, from a daemon's /metrics.
func labeled(t *testing.T, addr, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := name + "{" + labels + "} "
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestWALDiskFull puts the collector's --data on a 1 MiB file system. When
// the write-ahead log cannot grow, the collector must answer 503 (never 200
// for a batch it could not make durable), count the failures and keep
// running; the forwarder retries; once the file system is grown, everything
// arrives exactly once.
func TestWALDiskFull(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPipeline(t)
	mountTmpfs(t, p, p.Data, "1m")
	p.ForwarderFlags = []string{"--retry-min", "50ms", "--retry-max", forwarderRetry}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := loadgen(ctx, p, "--events", "40000", "--seed", "21", "--rate", "20000", "--truth", truthPath)

	waitMetric(t, p.CollectorMetrics, walErrors, 30*time.Second, positive)
	time.Sleep(time.Second)
	alive(t, p.Forwarder, p.Collector)
	if n := labeled(t, p.CollectorMetrics, "readout_collector_batches_total", `code="503"`); n == 0 {
		t.Errorf("the collector answered no 503 while its WAL could not grow")
	}
	if n := metric(t, p.ForwarderMetrics, "readout_forwarder_ship_retries_total"); n == 0 {
		t.Errorf("the forwarder retried nothing while the collector's WAL was full")
	}
	remountSize(t, p.Data, "256m")
	wait(t, done)
	errs := metric(t, p.CollectorMetrics, walErrors)
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	tr := readTruth(t, truthPath)
	t.Logf("sent %d events; wal errors %v", tr.Total.Requests, errs)
	if tr.Total.Requests != 40000 {
		t.Errorf("loadgen sent %d events; want 40000 (it waits instead of dropping)", tr.Total.Requests)
	}
	checkTotals(t, ctx, p, tr)
	checkClean(t, audit(t, ctx, p), tr)
	t.Run("logged once", func(t *testing.T) {
		checkLoggedOnce(t, p.Collector.Log, true, "no space left on device", "wal commit failed")
		// A checkpoint written to the same full disk fails too, in its
		// own line: at most once as well.
		if lines := faultLines(t, p.Collector.Log, "no space left on device", "write checkpoint"); len(lines) > 1 {
			t.Errorf("the failed checkpoint was logged %d times; want at most once", len(lines))
		}
	})
}

// TestOutputDiskFull fills the collector's --out while windows close. The
// flush must fail, be counted and retried, and must not truncate the WAL:
// the collector is then killed with SIGKILL while the output is still
// full, so the totals come out exact only if the WAL kept everything.
func TestOutputDiskFull(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPipeline(t)
	mountTmpfs(t, p, p.Out, "16m")
	p.Window = "2s"
	p.CollectorFlags = []string{"--allowed-lateness", "1s", "--flush-interval", "200ms"}
	p.ForwarderFlags = []string{"--retry-min", "50ms", "--retry-max", forwarderRetry}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, p.Out)
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := loadgen(ctx, p, "--events", "30000", "--seed", "22", "--rate", "10000", "--truth", truthPath)

	waitMetric(t, p.CollectorMetrics, flushErrors, 30*time.Second, positive)
	time.Sleep(time.Second)
	alive(t, p.Forwarder, p.Collector)
	if walBytes(t, p.Data) == 0 {
		t.Fatalf("the WAL is empty while the output is full: acknowledged events exist only in memory")
	}
	p.Collector.Kill()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	tr := readTruth(t, truthPath)
	checkTotals(t, ctx, p, tr)
	checkClean(t, audit(t, ctx, p), tr)
	t.Run("logged once", func(t *testing.T) {
		checkLoggedOnce(t, p.Collector.Log, false, "no space left on device")
	})
}

// walBytes sums the sizes of the collector's WAL segments.
func walBytes(t *testing.T, data string) int64 {
	t.Helper()
	var n int64
	for _, f := range dirFiles(filepath.Join(data, "wal")) {
		if fi, err := os.Stat(f); err == nil && strings.HasSuffix(f, ".wal") {
			n += fi.Size()
		}
	}
	return n
}
