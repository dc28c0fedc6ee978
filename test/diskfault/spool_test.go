package diskfault

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	spoolErrors    = "readout_forwarder_spool_write_errors_total"
	spoolTorn      = "readout_forwarder_spool_torn_tails_total"
	spoolCorrupt   = "readout_forwarder_spool_corrupt_segments_total"
	forwarderRetry = "500ms"
)

// TestSpoolDiskFull puts the spool on a 1 MiB file system that fills long
// before --spool-max-bytes while the collector is down. The forwarder must
// stop reading and acknowledging (emitters hold, then drop and count), stay
// up, lose nothing it acknowledged, and recover by itself once the collector
// is back and shipped segments free the space.
func TestSpoolDiskFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"small segments", []string{"--spool-segment-bytes", "131072"}},
		// The whole 1 MiB fits in the one active segment: a failed append
		// seals it so that shipping can delete it, and the next segment is
		// created once that has freed the space.
		{"default segment size", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spoolDiskFull(t, tc.flags)
		})
	}
}

func spoolDiskFull(t *testing.T, flags []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPipeline(t)
	mountTmpfs(t, p, p.Spool, "1m")
	// Batches well under the disk's size: a batch larger than the whole
	// file system (1 MiB uncompressed, say) could never be spooled, however
	// much shipping frees; that is a sizing error, not this fault.
	p.ForwarderFlags = append([]string{"--batch-max-bytes", "262144",
		"--retry-min", "50ms", "--retry-max", forwarderRetry}, flags...)
	if err := p.StartForwarder(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := loadgen(ctx, p, "--events", "60000", "--seed", "11", "--rate", "20000", "--wait=false",
		"--close-timeout", "40s", "--truth", truthPath)

	waitMetric(t, p.ForwarderMetrics, spoolErrors, 30*time.Second, positive)
	// Stay full a while: nothing may crash, and nothing may be
	// acknowledged to the emitters that the spool did not take.
	time.Sleep(200 * time.Millisecond)
	acks := metric(t, p.ForwarderMetrics, "readout_forwarder_acks_sent_total")
	time.Sleep(time.Second)
	if now := metric(t, p.ForwarderMetrics, "readout_forwarder_acks_sent_total"); now != acks {
		t.Errorf("the forwarder sent %v acknowledgements while its spool's disk was full", now-acks)
	}
	alive(t, p.Forwarder)
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
	errs := metric(t, p.ForwarderMetrics, spoolErrors)
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	tr := readTruth(t, truthPath)
	t.Logf("sent %d events, emitters dropped %d, spool write errors %v", tr.Total.Requests, tr.Drops, errs)
	if tr.Drops == 0 {
		t.Errorf("the emitters dropped nothing; the full spool should have pushed back on them")
	}
	checkTotals(t, ctx, p, tr)
	checkClean(t, audit(t, ctx, p), tr)
	t.Run("logged once", func(t *testing.T) {
		checkLoggedOnce(t, p.Forwarder.Log, true, "no space left on device")
	})
}

// TestSpoolDirUnwritable makes the spool directory refuse new files mid-run
// (segment rotation, the batch-seq reservation and segment deletion fail),
// then accept them again. The forwarder must keep running, retry, and lose
// nothing.
func TestSpoolDirUnwritable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("chattr"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chattr (e2fsprogs) is not installed")
		}
		t.Skip("chattr (e2fsprogs) is not installed")
	}
	p := newPipeline(t)
	mountTmpfs(t, p, p.Spool, "64m")
	p.ForwarderFlags = []string{"--spool-segment-bytes", "32768", "--retry-min", "50ms", "--retry-max", forwarderRetry}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(p.Dir, "truth.json")
	done := loadgen(ctx, p, "--events", "60000", "--seed", "12", "--rate", "20000", "--wait=false",
		"--close-timeout", "40s", "--truth", truthPath)
	time.Sleep(500 * time.Millisecond)
	setImmutable(t, p.Spool, true)
	waitMetric(t, p.ForwarderMetrics, spoolErrors, 20*time.Second, positive)
	time.Sleep(time.Second)
	alive(t, p.Forwarder, p.Collector)
	setImmutable(t, p.Spool, false)
	wait(t, done)
	if err := p.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}

	tr := readTruth(t, truthPath)
	t.Logf("sent %d events, emitters dropped %d", tr.Total.Requests, tr.Drops)
	checkTotals(t, ctx, p, tr)
	checkClean(t, audit(t, ctx, p), tr)
	t.Run("logged once", func(t *testing.T) {
		checkLoggedOnce(t, p.Forwarder.Log, false, "operation not permitted")
	})
}
