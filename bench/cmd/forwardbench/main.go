// Command forwardbench measures the node-local forwarding hop side by side:
// readout's forwarder (Cap'n Proto frames in, durable spool, batches to the
// collector) against rsyslog (JSON lines in through imptcp, omfwd over TCP)
// with a LinkedList and a Disk queue, on the same generated events, and
// writes bench/results/forwarding.md and forwarding.json.
//
//	go run ./bench/cmd/forwardbench --events 1000000
//	go run ./bench/cmd/forwardbench --quick
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	events   int
	quick    bool
	conns    int
	seed     uint64
	bin      string
	root     string
	out      string
	setups   string
	timeout  time.Duration
	poll     time.Duration
	keep     bool
	noInstal bool
	fwdFlags string
	colFlags string
	work     string
	perf     string
}

var allSetups = []string{"readout", "readout-null", "rsyslog-linkedlist", "rsyslog-disk"}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("forwardbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.events, "events", 1_000_000, "events per set-up")
	fs.BoolVar(&c.quick, "quick", false, "a short run: 200,000 events unless --events is given")
	fs.IntVar(&c.conns, "conns", 4, "emitter connections (one emitter id each)")
	fs.Uint64Var(&c.seed, "seed", 1, "event generator seed")
	fs.StringVar(&c.bin, "bin", "", "folder with prebuilt forwarder and collector binaries (default: build them from --root)")
	fs.StringVar(&c.root, "root", ".", "readout module root to build the daemons from")
	fs.StringVar(&c.out, "out", "bench/results", "folder for forwarding.md and forwarding.json")
	fs.StringVar(&c.setups, "setups", strings.Join(allSetups, ","), "comma-separated set-ups to run")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up on one set-up after this long")
	fs.DurationVar(&c.poll, "poll", 50*time.Millisecond, "how often to check that the processes are alive and print progress")
	fs.StringVar(&c.work, "work", "", "parent `folder` of the run's working directory (default: the system's temporary folder)")
	fs.StringVar(&c.perf, "perf", "", "record each forwarding process's call stacks with Linux perf into `folder` (KEY.perf.data; read with perf report -i)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (logs, spool, WAL, rsyslog queues)")
	fs.BoolVar(&c.noInstal, "no-install", false, "do not apt-get install rsyslog when rsyslogd is missing")
	fs.StringVar(&c.fwdFlags, "forwarder-flags", "", "extra forwarder flags, space-separated (e.g. \"--compress none\")")
	fs.StringVar(&c.colFlags, "collector-flags", "", "extra collector flags, space-separated")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: forwardbench [--events N | --quick] [flags]\n\n"+
			"Measures the forwarding hop side by side, on the same generated events: the readout forwarder\n"+
			"(to the collector, and to a null receiver) and rsyslog (LinkedList and Disk queues). Run it from\n"+
			"the module root; it writes bench/results/forwarding.md and forwarding.json.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if c.quick && !explicit["events"] {
		c.events = 200_000
	}
	if c.events < c.conns || c.conns <= 0 || c.timeout <= 0 || c.poll <= 0 {
		fmt.Fprintln(stderr, "forwardbench: --conns, --timeout and --poll must be positive, and --events at least --conns")
		return 2
	}
	if c.perf != "" {
		if err := os.MkdirAll(c.perf, 0o755); err != nil {
			fmt.Fprintln(stderr, "forwardbench: --perf:", err)
			return 2
		}
	}
	setups := map[string]bool{}
	for s := range strings.SplitSeq(c.setups, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSetups, s) {
			fmt.Fprintf(stderr, "forwardbench: unknown set-up %q (have %s)\n", s, strings.Join(allSetups, ", "))
			return 2
		}
		setups[s] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, c, setups, "go run ./bench/cmd/forwardbench "+strings.Join(args, " "), stdout)
	if err != nil {
		fmt.Fprintln(stderr, "forwardbench:", err)
		return 1
	}
	failed := false
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(stderr, "forwardbench: %s failed: %s\n", r.Setup, r.Error)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

func bench(ctx context.Context, c config, setups map[string]bool, command string, out io.Writer) (*forwarding.Report, error) {
	stdout := &elapsed{w: out, start: time.Now()} // progress lines, timed
	work, err := os.MkdirTemp(c.work, "forwardbench-")
	if err != nil {
		return nil, err
	}
	rep := &forwarding.Report{Date: time.Now(), Command: strings.TrimSpace(command),
		Machine: forwarding.ThisMachine(), Events: c.events, Conns: c.conns}
	// Keep the logs, spools and queues of a failed run for a look.
	defer func() {
		failed := false
		for _, r := range rep.Results {
			failed = failed || r.Error != ""
		}
		if c.keep || failed {
			fmt.Fprintf(stdout, "working directory kept: %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()

	fmt.Fprintf(stdout, "generating %d events over %d connections\n", c.events, c.conns)
	p, err := forwarding.BuildPayloads(c.events, c.conns, c.seed)
	if err != nil {
		return nil, err
	}

	var bin string
	var buildErr error
	for _, null := range []bool{false, true} {
		key := forwarding.KeyReadout
		if null {
			key = forwarding.KeyReadoutNull
		}
		if !setups[key] {
			continue
		}
		if bin == "" && buildErr == nil {
			bin, buildErr = binaries(ctx, c, work, stdout)
		}
		if buildErr != nil {
			rep.Results = append(rep.Results, forwarding.Result{Key: key, Setup: "readout forwarder (" + key + ")", Process: "forwarder", Events: p.Events, Error: buildErr.Error()})
			continue
		}
		rep.Results = append(rep.Results, runReadout(ctx, c, bin, filepath.Join(work, key), null, p, stdout))
	}
	for _, q := range []forwarding.Queue{forwarding.QueueLinkedList, forwarding.QueueDisk} {
		if !setups["rsyslog-"+strings.ToLower(string(q))] {
			continue
		}
		rep.Results = append(rep.Results, runRsyslog(ctx, c, work, q, p, rep, stdout))
	}
	rep.SetRatios()

	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return rep, err
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "\n%s", md.String())
	if err := os.WriteFile(filepath.Join(c.out, "forwarding.md"), md.Bytes(), 0o644); err != nil {
		return rep, err
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		return rep, err
	}
	if err := os.WriteFile(filepath.Join(c.out, "forwarding.json"), js.Bytes(), 0o644); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "wrote %s and %s\n", filepath.Join(c.out, "forwarding.md"), filepath.Join(c.out, "forwarding.json"))
	return rep, nil
}

// binaries returns the folder with the daemons: --bin, or a fresh build.
func binaries(ctx context.Context, c config, work string, stdout io.Writer) (string, error) {
	bin := c.bin
	if bin == "" {
		bin = filepath.Join(work, "bin")
		if err := build(ctx, c.root, bin, stdout); err != nil {
			return "", err
		}
	}
	return filepath.Abs(bin)
}

func runReadout(ctx context.Context, c config, bin, dir string, null bool, p *forwarding.Payloads, stdout io.Writer) forwarding.Result {
	if null {
		fmt.Fprintln(stdout, "readout: forwarder shipping to a null receiver")
	} else {
		fmt.Fprintln(stdout, "readout: forwarder and collector")
	}
	res := forwarding.RunReadout(ctx, forwarding.ReadoutConfig{Bin: bin, Dir: dir, NullCollector: null,
		Timeout: c.timeout, Poll: c.poll, Log: stdout,
		ForwarderFlags: strings.Fields(c.fwdFlags), CollectorFlags: strings.Fields(c.colFlags),
		PerfOut: perfOut(c, filepath.Base(dir))}, p)
	report(stdout, res)
	return res
}

// build compiles the two daemons, so the run measures the tree as it is.
func build(ctx context.Context, root, bin string, stdout io.Writer) error {
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("no go.mod in %s: run from the readout module root or pass --root", root)
	}
	for _, d := range []string{"forwarder", "collector"} {
		if _, err := os.Stat(filepath.Join(root, "cmd", d)); err != nil {
			return fmt.Errorf("cmd/%s is missing from %s: the %s binary cannot be built", d, root, d)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := goBuild(ctx, root, bin, stdout, "./cmd/forwarder", "./cmd/collector"); err != nil {
		return err
	}
	// The readout CLI only audits the run afterwards: without it the
	// measurement stands, so its build failing is not the run failing.
	if _, err := os.Stat(filepath.Join(root, "cmd", "readout")); err == nil {
		if err := goBuild(ctx, root, bin, stdout, "./cmd/readout"); err != nil {
			fmt.Fprintf(stdout, "  no audit after the run: %v\n", err)
		}
	}
	return nil
}

func goBuild(ctx context.Context, root, bin string, stdout io.Writer, pkgs ...string) error {
	fmt.Fprintf(stdout, "  building %s\n", strings.Join(pkgs, " "))
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w: %s", strings.Join(pkgs, " "), err, tail(out, 600))
	}
	return nil
}

func runRsyslog(ctx context.Context, c config, work string, q forwarding.Queue, p *forwarding.Payloads, rep *forwarding.Report, stdout io.Writer) forwarding.Result {
	fmt.Fprintf(stdout, "rsyslog: %s queue\n", q)
	fail := func(err error) forwarding.Result {
		return forwarding.Result{Key: "rsyslog-" + strings.ToLower(string(q)), Setup: "rsyslog, " + string(q) + " queue", Process: "rsyslogd", Events: p.Events, Error: err.Error()}
	}
	var path string
	var err error
	if c.noInstal {
		path, err = forwarding.FindRsyslogd()
	} else {
		path, err = forwarding.InstallRsyslog(ctx, stdout)
	}
	if err != nil {
		return fail(err)
	}
	if v, err := exec.CommandContext(ctx, path, "-v").Output(); err == nil {
		if f := strings.Fields(string(v)); len(f) > 1 {
			rep.Machine.Rsyslog = f[1]
		}
	}
	res := forwarding.RunRsyslog(ctx, forwarding.RsyslogConfig{Rsyslogd: path, Dir: filepath.Join(work, "rsyslog-"+strings.ToLower(string(q))),
		Queue: q, Timeout: c.timeout, Poll: c.poll, Log: stdout, PerfOut: perfOut(c, "rsyslog-"+strings.ToLower(string(q)))}, p)
	report(stdout, res)
	return res
}

func report(w io.Writer, r forwarding.Result) {
	if r.Error != "" {
		fmt.Fprintf(w, "  failed: %s\n", r.Error)
		return
	}
	fmt.Fprintf(w, "  %d events in %.2fs (%.0f events/s); %s %.2f CPU s per 1M events, peak RSS %.1f MiB\n",
		r.Events, r.WallSeconds, r.EventsPerSec, r.Process, r.CPUPerMillion, r.PeakRSSMiB)
	if r.IngestSeconds > 0 {
		fmt.Fprintf(w, "  every event spooled and acknowledged to the emitters after %.2fs\n", r.IngestSeconds)
	}
}

// perfOut is where the perf profile of set-up key goes; empty without --perf.
func perfOut(c config, key string) string {
	if c.perf == "" {
		return ""
	}
	return filepath.Join(c.perf, key+".perf.data")
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

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
