package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// collectorBinary builds cmd/collector once per test run.
func collectorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "collector-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "collector")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/readout-dev/readout/cmd/collector").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one run of the collector binary.
type proc struct {
	cmd    *exec.Cmd
	exited chan error
	url    string
}

func startProc(t *testing.T, data, out string, env ...string) *proc {
	t.Helper()
	return startProcArgs(t, data, out, nil, env...)
}

// startProcArgs is startProc with more command-line flags.
func startProcArgs(t *testing.T, data, out string, args []string, env ...string) *proc {
	t.Helper()
	addr, ops := freeAddr(t), freeAddr(t)
	cmd := exec.Command(collectorBinary(t), append([]string{"--listen", addr, "--data", data, "--out", out, "--window", "1m",
		"--metrics-addr", ops, "--flush-interval", "50ms", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	log, err := os.OpenFile(filepath.Join(filepath.Dir(data), "collector.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1), url: "http://" + addr}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			t.Fatalf("collector exited at start: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("collector not ready")
	return nil
}

// killed waits for the process to end and reports whether SIGKILL ended it.
func (p *proc) killed(t *testing.T) bool {
	select {
	case err := <-p.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return true
			}
		}
		t.Fatalf("collector ended without SIGKILL: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("collector did not die after a failed request")
	}
	return false
}

func (p *proc) term(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("collector SIGTERM exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop after SIGTERM")
	}
}

// postRaw posts a body and returns the status, or 0 when the connection
// failed (the process died).
func postRaw(url string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url+BatchPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKill9 kills the collector process at each fault-injection point (and
// once from outside), restarts it, re-sends what was not acknowledged, as a
// forwarder does, and checks the files still hold every event exactly once.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cases := []struct {
		point string
		after int
	}{
		{CrashAfterWALAppend, 7},
		{CrashAfterFile, 2},
		{CrashMidFile, 2},
		{CrashBeforeCheckpoint, 3},
		{CrashAfterCheckpoint, 3},
		{"external", 20}, // SIGKILL from the test after this many batches
	}
	for _, tc := range cases {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
			// Event times two hours back: every window is closable at once,
			// so each flush interval writes files and the flush crash points
			// are reached.
			base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
			// Anonymous events are left out: they cannot be deduplicated, so
			// a re-sent batch counts them again by design (docs/input-policy.md).
			s := makeScenario(7, 3, 300, base, 0)
			var env []string
			if tc.point != "external" {
				env = []string{"READOUT_COLLECTOR_CRASH_POINT=" + tc.point, fmt.Sprintf("READOUT_COLLECTOR_CRASH_AFTER=%d", tc.after)}
			}
			p := startProc(t, data, out, env...)
			tr := newTruth()
			crashes := 0
			var bseq uint64
			for i, b := range append(s.phase1, s.phase2...) {
				bseq++
				body := encodeBatch(t, [16]byte{0xf1}, bseq, b)
				if tc.point == "external" && i == tc.after {
					p.cmd.Process.Kill()
				}
				for attempt := 0; ; attempt++ {
					code := postRaw(p.url, body)
					if code == http.StatusOK {
						break
					}
					if code != 0 || attempt > 3 {
						t.Fatalf("batch %d: status %d after %d attempts", bseq, code, attempt)
					}
					if p.killed(t) {
						crashes++
					}
					p = startProc(t, data, out) // no fault injection from now on
				}
				for j := range b {
					tr.deliver(&b[j])
				}
				if i%10 == 0 {
					time.Sleep(60 * time.Millisecond) // let flushes happen between batches
				}
			}
			if crashes == 0 {
				// A flush-time crash may strike between batches: make sure
				// the process is still the one we think.
				select {
				case <-p.exited:
					crashes++
					p = startProc(t, data, out)
				case <-time.After(300 * time.Millisecond):
				}
			}
			if crashes == 0 {
				t.Fatalf("crash point %s never reached", tc.point)
			}
			p.term(t)
			rows, _ := readRows(t, out)
			checkTotals(t, rows, tr)
			checkQuantiles(t, rows, tr)
			checkAudit(t, out, tr, false)
			if left, _ := filepath.Glob(filepath.Join(data, "wal", "*.wal")); len(left) != 1 {
				t.Errorf("wal not truncated after a clean stop: %d segments", len(left))
			}
		})
	}
}

// TestKill9DowntimeOverTTL: the collector is killed after its WAL fsync and
// before its answer, stays down longer than --dedupe-ttl, and the
// forwarder re-sends the batch when it is back. The outage is not the
// emitter's silence: the re-sent events are duplicates, counted once.
// (Before the ingest clock, the first flush tick after the restart forgot
// the emitter and the re-send was counted again.)
func TestKill9DowntimeOverTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	root := t.TempDir()
	data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
	// The TTL leaves a slow machine seconds between the restart and the
	// re-send; the outage is longer than it.
	ttl := []string{"--dedupe-ttl", "5s"}
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	s := makeScenario(11, 2, 100, base, 0)
	batches := append(s.phase1, s.phase2...)
	p := startProcArgs(t, data, out, ttl, "READOUT_COLLECTOR_CRASH_POINT="+CrashAfterWALAppend, "READOUT_COLLECTOR_CRASH_AFTER=3")
	tr := newTruth()
	crashed := false
	for i, b := range batches {
		body := encodeBatch(t, [16]byte{0xf3}, uint64(i+1), b)
		code := postRaw(p.url, body)
		if code == 0 && !crashed {
			if !p.killed(t) {
				t.Fatal("collector died without SIGKILL")
			}
			crashed = true
			time.Sleep(6 * time.Second) // longer than --dedupe-ttl
			p = startProcArgs(t, data, out, ttl)
			// A forwarder's retry comes after its backoff; by then flush
			// ticks (every 50 ms here) have run, which used to forget
			// every emitter the outage made look silent.
			time.Sleep(500 * time.Millisecond)
			code = postRaw(p.url, body) // the forwarder's re-send
		}
		if code != http.StatusOK {
			t.Fatalf("batch %d: status %d", i+1, code)
		}
		for j := range b {
			tr.deliver(&b[j])
		}
	}
	if !crashed {
		t.Fatal("the crash point was never reached")
	}
	p.term(t)
	rows, _ := readRows(t, out)
	checkTotals(t, rows, tr)
	checkAudit(t, out, tr, false)
}

// TestMovedCheckpointsKeepFiles: with its checkpoints moved out of --data,
// a collector used to take every output file it had written for an
// uncommitted flush and delete them all. It must refuse to start (exit 1,
// naming the files and what to do) and leave every file where it is; with
// the checkpoints back it starts and the data is whole.
func TestMovedCheckpointsKeepFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	root := t.TempDir()
	data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	s := makeScenario(12, 2, 100, base, 0)
	p := startProc(t, data, out)
	tr := newTruth()
	for i, b := range append(s.phase1, s.phase2...) {
		if code := postRaw(p.url, encodeBatch(t, [16]byte{0xf4}, uint64(i+1), b)); code != http.StatusOK {
			t.Fatalf("batch %d: status %d", i+1, code)
		}
		for j := range b {
			tr.deliver(&b[j])
		}
		time.Sleep(20 * time.Millisecond) // several flushes, several flush seqs
	}
	p.term(t)
	_, before := readRows(t, out)
	ckpts, _ := filepath.Glob(filepath.Join(data, "checkpoint-*.bin"))
	aside := filepath.Join(root, "aside")
	if err := os.Mkdir(aside, 0o755); err != nil {
		t.Fatal(err)
	}
	move := func(from, to string) {
		for _, c := range ckpts {
			if err := os.Rename(filepath.Join(from, filepath.Base(c)), filepath.Join(to, filepath.Base(c))); err != nil {
				t.Fatal(err)
			}
		}
	}
	move(data, aside)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, collectorBinary(t), "--listen", freeAddr(t), "--data", data, "--out", out, "--metrics-addr", freeAddr(t))
	msg, err := cmd.CombinedOutput() // a collector that starts runs until the timeout kills it
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("start without checkpoints: got %v; want exit status 1 (cannot start on this state)\n%s", err, msg)
	}
	if !bytes.Contains(msg, []byte("not accounted for")) || !bytes.Contains(msg, []byte("part-")) {
		t.Fatalf("the refusal does not name the files:\n%s", msg)
	}
	if _, after := readRows(t, out); len(after) != len(before) {
		t.Fatalf("output files changed: %d before, %d after", len(before), len(after))
	}
	move(aside, data)
	p = startProc(t, data, out)
	p.term(t)
	rows, _ := readRows(t, out)
	checkTotals(t, rows, tr)
}
