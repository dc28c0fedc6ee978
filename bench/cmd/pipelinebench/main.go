// Command pipelinebench runs readout's real binaries on this machine,
// loadgen into the forwarder into the collector, and measures sustained
// events/s end to end, CPU seconds per million events and peak RSS of each
// process, bytes per event on each hop and the audit; then each hop alone,
// so that the bottleneck is visible. It writes bench/results/pipeline.md and
// pipeline.json.
//
//	go run ./bench/cmd/pipelinebench --events 1000000
//	go run ./bench/cmd/pipelinebench --rate 500000 --duration 60s
//	go run ./bench/cmd/pipelinebench --quick
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/readout-dev/readout/bench/endtoend"
	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/bench/numfmt"
	"github.com/readout-dev/readout/internal/pipeline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	events   int
	quick    bool
	rate     float64
	duration time.Duration
	emitters int
	seed     uint64
	bin      string
	root     string
	out      string
	work     string
	timeout  time.Duration
	noHops   bool
	keep     bool
	fwdFlags string
	colFlags string
	probe    int64 // bytes the disk probe writes; 0 skips it
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("pipelinebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.IntVar(&c.events, "events", 1_000_000, "events to send (ignored with --duration)")
	fs.BoolVar(&c.quick, "quick", false, "a short run: 200,000 events unless --events or --duration is given")
	fs.Float64Var(&c.rate, "rate", 0, "loadgen --rate, events/s in total; 0 as fast as it can")
	fs.DurationVar(&c.duration, "duration", 0, "a sustained run at --rate for this long: events = rate x duration (needs --rate)")
	fs.IntVar(&c.emitters, "emitters", 4, "loadgen --emitters: emitter instances, one connection each")
	fs.Uint64Var(&c.seed, "seed", 1, "loadgen --seed")
	fs.StringVar(&c.bin, "bin", "", "folder with prebuilt forwarder, collector, loadgen and readout (default: build them from --root)")
	fs.StringVar(&c.root, "root", ".", "readout module root to build the binaries from")
	fs.StringVar(&c.out, "out", "bench/results", "folder for pipeline.md and pipeline.json")
	fs.StringVar(&c.work, "work", "", "parent `folder` of the run's working directory (default: the system's temporary folder)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up on a stage after this long")
	fs.BoolVar(&c.noHops, "no-hops", false, "measure end to end only, not each hop alone")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (logs, spool, WAL, output)")
	fs.StringVar(&c.fwdFlags, "forwarder-flags", "", "extra forwarder flags, space-separated")
	fs.StringVar(&c.colFlags, "collector-flags", "", "extra collector flags, space-separated")
	probeMiB := fs.Int64("disk-probe-mib", 256, "MiB to write (4 MiB at a time, each fsynced) to measure the disk before the run; 0 skips the probe")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *probeMiB < 0 {
		return nil, errors.New("--disk-probe-mib must not be negative")
	}
	c.probe = *probeMiB << 20
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	switch {
	case c.duration > 0 && c.rate <= 0:
		return nil, errors.New("--duration needs a --rate")
	case c.duration < 0 || c.rate < 0:
		return nil, errors.New("--duration and --rate must not be negative")
	case c.duration > 0:
		c.events = int(c.rate * c.duration.Seconds())
	case c.quick && !explicit["events"]:
		c.events = 200_000
	}
	if c.quick && !explicit["disk-probe-mib"] {
		c.probe = 64 << 20
	}
	if c.events < c.emitters || c.emitters <= 0 || c.timeout <= 0 {
		return nil, errors.New("--emitters and --timeout must be positive, and --events at least --emitters")
	}
	if c.duration > 0 && c.timeout < 2*c.duration {
		c.timeout = 2*c.duration + time.Minute
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !strings.Contains(err.Error(), "flag provided") {
			fmt.Fprintln(stderr, "pipelinebench:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, c, "go run ./bench/cmd/pipelinebench "+strings.Join(args, " "), stdout)
	if err != nil {
		fmt.Fprintln(stderr, "pipelinebench:", err)
		return 1
	}
	if rep.Failed() {
		for _, s := range rep.Stages {
			if s.Error != "" {
				fmt.Fprintf(stderr, "pipelinebench: %s failed: %s\n", s.Name, s.Error)
			}
		}
		return 1
	}
	return 0
}

func bench(ctx context.Context, c *config, command string, out io.Writer) (*endtoend.Report, error) {
	log := &elapsed{w: out, start: time.Now()}
	work, err := os.MkdirTemp(c.work, "pipelinebench-")
	if err != nil {
		return nil, err
	}
	rep := &endtoend.Report{Date: time.Now(), Command: strings.TrimSpace(command), Machine: forwarding.ThisMachine(),
		Events: c.events, Emitters: c.emitters, Rate: c.rate}
	defer func() {
		if c.keep || rep.Failed() {
			fmt.Fprintf(log, "working directory kept: %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()
	bin := c.bin
	if bin == "" {
		bin = filepath.Join(work, "bin")
		if err := build(ctx, c.root, bin, log); err != nil {
			return nil, err
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	for _, b := range []string{"forwarder", "collector", "loadgen", "readout"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s binary missing from %s", b, bin)
		}
	}
	if c.probe > 0 {
		fmt.Fprintf(log, "disk probe: %d MiB in fsynced 4 MiB writes\n", c.probe>>20)
		if rep.DiskBytesPerSec, err = endtoend.ProbeDisk(work, c.probe); err != nil {
			return nil, err
		}
	}
	rep.LoadBefore = numfmt.LoadAverage()
	rep.Stages = endtoend.Run(ctx, endtoend.Config{Bin: bin, Dir: work, Events: c.events, Emitters: c.emitters,
		Rate: c.rate, Seed: c.seed, Timeout: c.timeout, Poll: 50 * time.Millisecond, Hops: !c.noHops,
		ForwarderFlags: strings.Fields(c.fwdFlags), CollectorFlags: strings.Fields(c.colFlags), Log: log})
	rep.LoadAfter = numfmt.LoadAverage()
	return rep, write(rep, c.out, out)
}

// write puts pipeline.md and pipeline.json into dir and the table on out.
func write(rep *endtoend.Report, dir string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md, js bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%s", md.String())
	if err := os.WriteFile(filepath.Join(dir, "pipeline.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pipeline.json"), js.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s\n", filepath.Join(dir, "pipeline.md"), filepath.Join(dir, "pipeline.json"))
	return nil
}

// build compiles the four binaries, so the run measures the tree as it is.
func build(ctx context.Context, root, bin string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pkgs := []string{"./cmd/forwarder", "./cmd/collector", "./cmd/loadgen", "./cmd/readout"}
	fmt.Fprintf(log, "building %s\n", strings.Join(pkgs, " "))
	return pipeline.Build(ctx, root, bin, pkgs...)
}

// elapsed prefixes each write (one progress line) with the time since start.
type elapsed struct {
	w     io.Writer
	start time.Time
}

func (e *elapsed) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(e.w, "[%6.1fs] ", time.Since(e.start).Seconds()); err != nil {
		return 0, err
	}
	return e.w.Write(p)
}
