package collector

import (
	"bytes"
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
	addr, ops := freeAddr(t), freeAddr(t)
	cmd := exec.Command(collectorBinary(t), "--listen", addr, "--data", data, "--out", out, "--window", "1m",
		"--metrics-addr", ops, "--flush-interval", "50ms", "--log-level", "warn")
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
