package forwarding

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Profile records the call stacks of process pid with Linux perf until the
// returned stop is called, into the file out (read it with
// `perf report -i OUT`). perf's own work is not charged to pid, but its
// sampling interrupts are, so a profiled run's CPU figures read a little high.
func Profile(pid int, out string) (stop func() error, err error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("perf not found (Debian: apt-get install linux-perf): %w", err)
	}
	cmd := exec.Command(path, "record", "--quiet", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// perf needs a moment to attach; events before that are not sampled.
	// It creates its output file after installing its SIGINT handler, so
	// wait for the file too: on a loaded machine a stop sent before then
	// killed perf before it wrote anything.
	time.Sleep(200 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
	}
	// stop may be called twice (after the measurement, and deferred for
	// the error paths); only the first call acts.
	return sync.OnceValue(func() error {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			// perf writes its data, then re-raises the SIGINT it was sent.
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
					err = nil
				}
			}
			if err != nil {
				return fmt.Errorf("perf record: %w", err)
			}
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("perf record did not stop within 30s of SIGINT; killed")
		}
	}), nil
}
