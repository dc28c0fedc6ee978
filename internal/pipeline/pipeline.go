package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Pipeline is a collector and a forwarder on one machine, started with the
// command-line contract in design.md, sharing one working directory.
type Pipeline struct {
	Bin string // folder holding the built binaries
	Dir string // working directory: socket, spool, WAL, output, logs

	Socket, Spool, Data, Out string
	CollectorAddr            string
	CollectorMetrics         string
	ForwarderMetrics         string
	Window                   string

	Collector, Forwarder *Process
	// Extra flags for each daemon, appended to the contract flags.
	CollectorFlags, ForwarderFlags []string
}

// New lays out a pipeline in dir using binaries from bin. Nothing starts.
func New(bin, dir string) (*Pipeline, error) {
	p := &Pipeline{
		Bin: bin, Dir: dir,
		Socket: filepath.Join(dir, "forwarder.sock"),
		Spool:  filepath.Join(dir, "spool"),
		Data:   filepath.Join(dir, "data"),
		Out:    filepath.Join(dir, "out"),
		Window: "1m",
	}
	for _, a := range []*string{&p.CollectorAddr, &p.CollectorMetrics, &p.ForwarderMetrics} {
		addr, err := FreeAddr()
		if err != nil {
			return nil, fmt.Errorf("pick a port: %w", err)
		}
		*a = addr
	}
	return p, os.MkdirAll(dir, 0o755)
}

// StartCollector starts the collector and waits until it is ready.
func (p *Pipeline) StartCollector(ctx context.Context) error {
	args := append([]string{
		"--listen", p.CollectorAddr, "--data", p.Data, "--out", p.Out,
		"--window", p.Window, "--metrics-addr", p.CollectorMetrics,
	}, p.CollectorFlags...)
	proc, err := Start("collector", filepath.Join(p.Bin, "collector"), args, filepath.Join(p.Dir, "collector.log"))
	if err != nil {
		return err
	}
	p.Collector = proc
	return proc.WaitHTTP(ctx, "http://"+p.CollectorMetrics+"/readyz")
}

// StartForwarder starts the forwarder and waits until its socket answers.
func (p *Pipeline) StartForwarder(ctx context.Context) error {
	args := append([]string{
		"--socket", p.Socket, "--spool", p.Spool, "--collector", "http://" + p.CollectorAddr,
		"--metrics-addr", p.ForwarderMetrics,
	}, p.ForwarderFlags...)
	proc, err := Start("forwarder", filepath.Join(p.Bin, "forwarder"), args, filepath.Join(p.Dir, "forwarder.log"))
	if err != nil {
		return err
	}
	p.Forwarder = proc
	if err := proc.WaitHTTP(ctx, "http://"+p.ForwarderMetrics+"/readyz"); err != nil {
		return err
	}
	return proc.WaitSocket(ctx, p.Socket)
}

// Start starts the collector, then the forwarder.
func (p *Pipeline) Start(ctx context.Context) error {
	if err := p.StartCollector(ctx); err != nil {
		return err
	}
	return p.StartForwarder(ctx)
}

// Drain stops the forwarder first (it ships everything it holds to the live
// collector), then the collector (it writes every open window).
func (p *Pipeline) Drain(timeout time.Duration) error {
	if p.Forwarder != nil {
		if err := p.Forwarder.Stop(timeout); err != nil {
			return err
		}
	}
	if p.Collector != nil {
		if err := p.Collector.Stop(timeout); err != nil {
			return err
		}
	}
	return nil
}

// KillAll SIGKILLs whatever is still running; for cleanup after failures.
func (p *Pipeline) KillAll() {
	for _, proc := range []*Process{p.Forwarder, p.Collector} {
		if proc != nil {
			proc.Kill()
		}
	}
}

// Readout runs the readout CLI and returns its stdout.
func (p *Pipeline) Readout(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.Bin, "readout"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("readout %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// QueryJSON runs `readout query --dir OUT --format json ARGS...` and decodes
// its JSON Lines.
func (p *Pipeline) QueryJSON(ctx context.Context, args ...string) ([]map[string]any, error) {
	out, err := p.Readout(ctx, append([]string{"query", "--dir", p.Out, "--format", "json"}, args...)...)
	if err != nil {
		return nil, err
	}
	return decodeLines(out)
}

// AuditJSON runs `readout audit --dir OUT --format json`.
func (p *Pipeline) AuditJSON(ctx context.Context) ([]map[string]any, error) {
	out, err := p.Readout(ctx, "audit", "--dir", p.Out, "--format", "json")
	if err != nil {
		return nil, err
	}
	return decodeLines(out)
}

func decodeLines(b []byte) ([]map[string]any, error) {
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("decode JSON line: %w", err)
		}
		rows = append(rows, m)
	}
	return rows, nil
}
