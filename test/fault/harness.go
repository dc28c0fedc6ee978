// Package fault holds readout's fault-injection tests (crash cycles and
// outages, run against real processes) and the small harness they share
// with test/soak: building the binaries, running loadgen in the background,
// and checking the output against loadgen's truth and the audit.
package fault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

// RepoRoot and BuildBinaries are the shared ones; kept here so the fault
// and soak tests read as before.
var (
	RepoRoot      = pipeline.RepoRoot
	BuildBinaries = pipeline.BuildBinaries
)

// Line is one line loadgen wrote on stderr and when it arrived.
type Line struct {
	At   time.Time
	Text string
}

// Fleet is a loadgen process running in the background.
type Fleet struct {
	Name    string
	Truth   string // its --truth file
	Log     string // its stderr, also kept in Lines
	Started time.Time

	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	ended time.Time

	mu    sync.Mutex
	lines []Line
}

// StartFleet starts loadgen on p's socket with args, writing its truth to
// p.Dir/NAME.truth.json. It does not wait.
func StartFleet(p *pipeline.Pipeline, name string, args ...string) (*Fleet, error) {
	f := &Fleet{
		Name:  name,
		Truth: filepath.Join(p.Dir, name+".truth.json"),
		Log:   filepath.Join(p.Dir, name+".log"),
		done:  make(chan struct{}),
	}
	logf, err := os.Create(f.Log)
	if err != nil {
		return nil, err
	}
	all := append([]string{"--socket", p.Socket, "--truth", f.Truth}, args...)
	f.cmd = exec.Command(filepath.Join(p.Bin, "loadgen"), all...)
	// Its own process group, like the daemons: a terminal's ^C reaches the
	// test, which then decides what to stop.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := f.cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start loadgen %s: %w", name, err)
	}
	f.Started = time.Now()
	go func() {
		f.collect(stderr, logf)
		f.err = f.cmd.Wait()
		f.ended = time.Now()
		logf.Close()
		close(f.done)
	}()
	return f, nil
}

// collect timestamps loadgen's stderr lines and copies them to the log.
func (f *Fleet) collect(r io.Reader, log io.Writer) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := Line{At: time.Now(), Text: sc.Text()}
		fmt.Fprintln(log, l.Text)
		f.mu.Lock()
		f.lines = append(f.lines, l)
		f.mu.Unlock()
	}
}

// Lines returns the stderr lines so far.
func (f *Fleet) Lines() []Line {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Line(nil), f.lines...)
}

// Pid is the loadgen process id.
func (f *Fleet) Pid() int { return f.cmd.Process.Pid }

// Alive reports whether loadgen is still running.
func (f *Fleet) Alive() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// Wait waits for loadgen to exit and returns an error unless it exited 0.
func (f *Fleet) Wait(ctx context.Context) error {
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("loadgen %s still running: %w", f.Name, ctx.Err())
	}
	if f.err != nil {
		return fmt.Errorf("loadgen %s: %w", f.Name, f.err)
	}
	return nil
}

// Elapsed is how long loadgen ran; zero while it runs.
func (f *Fleet) Elapsed() time.Duration {
	if f.Alive() {
		return 0
	}
	return f.ended.Sub(f.Started)
}

// Interrupt sends SIGTERM: loadgen stops generating, closes its emitters
// (they flush and wait for acknowledgements) and writes its truth.
func (f *Fleet) Interrupt() {
	if f.Alive() {
		_ = f.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// Kill ends loadgen at once, for cleanup.
func (f *Fleet) Kill() {
	if f.Alive() {
		_ = f.cmd.Process.Kill()
	}
	<-f.done
}
