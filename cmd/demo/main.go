// Command demo runs the whole readout pipeline on this machine: a collector
// and a forwarder as real processes, loadgen as a fleet of inference servers,
// then prints what the output files say. `make demo` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	bin     string
	dir     string
	events  int
	seed    int64
	rate    int
	timeout time.Duration
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "bin", "bin", "folder with the built binaries (make build)")
	fs.StringVar(&c.dir, "dir", "", "working directory for socket, spool, WAL and output (default: a new temporary directory, kept afterwards)")
	fs.IntVar(&c.events, "events", 1_000_000, "events to emit")
	fs.Int64Var(&c.seed, "seed", 42, "loadgen seed: the same seed gives the same events")
	fs.IntVar(&c.rate, "rate", 0, "events per second across the fleet; 0 means as fast as the pipeline takes them")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: demo [flags]\n\nRuns a collector, a forwarder and loadgen on this machine, then prints per-model\nand per-account results, the delivery audit, and the commands to explore further.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.events <= 0 || c.rate < 0 {
		fmt.Fprintln(stderr, "demo: --events must be positive and --rate not negative")
		return 2
	}
	for _, b := range []string{"collector", "forwarder", "loadgen", "readout"} {
		if _, err := os.Stat(filepath.Join(c.bin, b)); err != nil {
			fmt.Fprintf(stderr, "demo: %s is missing from %s: run 'make build' first\n", b, c.bin)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, c, stdout); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, c config, out io.Writer) error {
	if c.dir == "" {
		d, err := os.MkdirTemp("", "readout-demo-")
		if err != nil {
			return err
		}
		c.dir = d
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	p, err := pipeline.New(bin, c.dir)
	if err != nil {
		return err
	}
	defer p.KillAll() // leaves nothing running, whatever happens
	reportAddr, err := pipeline.FreeAddr()
	if err != nil {
		return err
	}
	p.ForwarderFlags = []string{"--report-addr", reportAddr}

	fmt.Fprintf(out, "readout demo: the whole pipeline on this machine\n")
	fmt.Fprintf(out, "  work dir   %s (kept; logs are here too)\n", c.dir)
	fmt.Fprintf(out, "  collector  http://%s  metrics http://%s/metrics\n", p.CollectorAddr, p.CollectorMetrics)
	fmt.Fprintf(out, "  forwarder  %s  metrics http://%s/metrics\n", p.Socket, p.ForwarderMetrics)
	fmt.Fprintf(out, "  reports    http://%s  (the forwarder's JSON endpoints)\n", reportAddr)
	fmt.Fprintf(out, "  load       %s inference events from a simulated fleet, and 8 model instances (loadgen, seed %d)\n\n", thousands(int64(c.events)), c.seed)

	start := time.Now()
	if err := p.Start(ctx); err != nil {
		return err
	}
	truthPath := filepath.Join(c.dir, "truth.json")
	lgDone := make(chan error, 1)
	go func() {
		lgDone <- p.Loadgen(ctx, nil, "--events", strconv.Itoa(c.events), "--seed", strconv.FormatInt(c.seed, 10),
			"--rate", strconv.Itoa(c.rate), "--truth", truthPath,
			"--streams", "inference,instances", "--instances", "8", "--report-addr", reportAddr)
	}()
	prog := newProgress(out, int64(c.events))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-lgDone:
			if err != nil {
				return err
			}
			waiting = false
		case <-tick.C:
			prog.update(p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	prog.update(p)
	emitted := time.Since(start)
	prog.finish()

	fmt.Fprintf(out, "\nStopping in order: forwarder (SIGTERM: ships everything it holds), then collector (SIGTERM: writes every open window)\n")
	if err := p.Drain(90 * time.Second); err != nil {
		return err
	}
	total := time.Since(start)
	fmt.Fprintf(out, "All events emitted in %.1fs; pipeline drained and stopped after %.1fs (%s events/s end to end).\n",
		emitted.Seconds(), total.Seconds(), thousands(int64(float64(c.events)/total.Seconds())))

	return report(ctx, p, truthPath, out)
}
