// Package pipeline runs readout's daemons as real processes, wired by their
// documented command lines, for the demo, end-to-end tests and benchmarks.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is one daemon started from a binary, its output in a log file.
type Process struct {
	Name string
	Args []string
	Log  string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs bin with args, writing stdout and stderr to logPath. The child
// gets its own process group so a signal to the caller's terminal group does
// not reach it before the caller decides the shutdown order.
func Start(name, bin string, args []string, logPath string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Args: args, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Alive reports whether the process has not exited yet.
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
// A process that does not exit in time is killed and reported.
func (p *Process) Stop(timeout time.Duration) error {
	if !p.Alive() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed (log: %s)", p.Name, timeout, p.Log)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	if p.Alive() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

func (p *Process) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w; log tail: %s", p.Name, p.err, p.Tail(800))
	}
	return nil
}

// Tail returns the last n bytes of the process's log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// WaitHTTP polls url until it answers 200, the process dies, or ctx ends.
func (p *Process) WaitHTTP(ctx context.Context, url string) error {
	return p.waitFor(ctx, url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// WaitSocket polls until a Unix socket at path accepts a connection.
func (p *Process) WaitSocket(ctx context.Context, path string) error {
	return p.waitFor(ctx, path, func() bool {
		c, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (p *Process) waitFor(ctx context.Context, what string, ok func() bool) error {
	for {
		if ok() {
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited while waiting for %s: %v; log tail: %s", p.Name, what, p.err, p.Tail(800))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w", p.Name, what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ErrNotRunning is returned when stopping a daemon that was never started.
var ErrNotRunning = errors.New("pipeline: process not running")
