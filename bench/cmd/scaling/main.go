// Command scaling measures readout's scaling curves and writes
// bench/results/scaling.md, scaling.json and one SVG chart per curve:
// forwarder ingest against emitter connections (1, 4, 16, 64) and against
// event size, and the collector's decode + aggregate against active
// aggregation keys (1k to 1M).
//
//	go run ./bench/cmd/scaling
//	go run ./bench/cmd/scaling --quick
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/bench/numfmt"
	"github.com/readout-dev/readout/bench/scaling"
	"github.com/readout-dev/readout/internal/pipeline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	quick   bool
	curves  string
	bin     string
	root    string
	out     string
	work    string
	keep    bool
	timeout time.Duration
	seed    uint64
	render  string
	sc      scaling.Config
}

var allCurves = []string{"connections", "size", "keys"}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("scaling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	var conns, sizes, keys string
	var connEvents, keyEvents int
	var sizeMB int64
	fs.BoolVar(&c.quick, "quick", false, "fewer points and events (under a minute)")
	fs.StringVar(&c.curves, "curves", strings.Join(allCurves, ","), "comma-separated curves to measure")
	fs.StringVar(&conns, "conns", "1,4,16,64", "connection counts")
	fs.IntVar(&connEvents, "conn-events", 1_000_000, "events per connection-count point")
	fs.StringVar(&sizes, "sizes", "1,512,1024,4096", "target frame bytes (1: the smallest the schema allows)")
	fs.Int64Var(&sizeMB, "size-mb", 256, "MB of frames per event-size point (events = this / frame size, at most --conn-events)")
	fs.StringVar(&keys, "keys", "1000,10000,100000,1000000", "active aggregation key counts")
	fs.IntVar(&keyEvents, "key-events", 3_000_000, "timed events per key-count point, after 8 untimed events per key")
	fs.StringVar(&c.bin, "bin", "", "folder with a prebuilt forwarder (default: build it from --root)")
	fs.StringVar(&c.root, "root", ".", "readout module root to build the forwarder from")
	fs.StringVar(&c.out, "out", "bench/results", "folder for scaling.md, scaling.json and the charts")
	fs.StringVar(&c.work, "work", "", "parent `folder` of the working directory (default: the system's temporary folder)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory")
	fs.DurationVar(&c.timeout, "timeout", 3*time.Minute, "give up on one point after this long")
	fs.Uint64Var(&c.seed, "seed", 1, "event generator seed")
	fs.StringVar(&c.render, "render", "", "measure nothing: rewrite scaling.md and the charts in --out from this scaling.json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if c.quick {
		for name, dst := range map[string]*string{"conns": &conns, "sizes": &sizes, "keys": &keys} {
			if !explicit[name] {
				*dst = map[string]string{"conns": "1,4,16,64", "sizes": "1,1024,4096", "keys": "1000,10000,100000"}[name]
			}
		}
		if !explicit["conn-events"] {
			connEvents = 200_000
		}
		if !explicit["size-mb"] {
			sizeMB = 48
		}
		if !explicit["key-events"] {
			keyEvents = 500_000
		}
	}
	want := map[string]bool{}
	for s := range strings.SplitSeq(c.curves, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allCurves, s) {
			return nil, fmt.Errorf("unknown curve %q (have %s)", s, strings.Join(allCurves, ", "))
		}
		want[s] = true
	}
	var err error
	sc := scaling.Config{ConnEvents: connEvents, SizeBytes: sizeMB * 1e6, SizeConns: 4, KeyEvents: keyEvents,
		Timeout: c.timeout, Seed: c.seed}
	if want["connections"] {
		if sc.Conns, err = ints("conns", conns); err != nil {
			return nil, err
		}
	}
	if want["size"] {
		if sc.Sizes, err = ints("sizes", sizes); err != nil {
			return nil, err
		}
	}
	if want["keys"] {
		if sc.Keys, err = ints("keys", keys); err != nil {
			return nil, err
		}
	}
	for _, n := range sc.Conns {
		if n > connEvents {
			return nil, fmt.Errorf("--conn-events %d is below the %d connections of a point", connEvents, n)
		}
	}
	if connEvents <= 0 || keyEvents <= 0 || sizeMB <= 0 || c.timeout <= 0 {
		return nil, errors.New("--conn-events, --key-events, --size-mb and --timeout must be positive")
	}
	c.sc = sc
	return c, nil
}

// ints parses a comma-separated list of positive integers.
func ints(name, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !strings.Contains(err.Error(), "flag provided") {
			fmt.Fprintln(stderr, "scaling:", err)
		}
		return 2
	}
	if c.render != "" {
		if err := render(c.render, c.out, stdout); err != nil {
			fmt.Fprintln(stderr, "scaling:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, c, "go run ./bench/cmd/scaling "+strings.Join(args, " "), stdout)
	if err != nil {
		fmt.Fprintln(stderr, "scaling:", err)
		return 1
	}
	if rep.Failed() {
		fmt.Fprintln(stderr, "scaling: some points failed; see the report")
		return 1
	}
	return 0
}

func bench(ctx context.Context, c *config, command string, out io.Writer) (*scaling.Report, error) {
	log := &elapsed{w: out, start: time.Now()}
	work, err := os.MkdirTemp(c.work, "scaling-")
	if err != nil {
		return nil, err
	}
	rep := &scaling.Report{Date: time.Now(), Command: strings.TrimSpace(command), Machine: forwarding.ThisMachine()}
	defer func() {
		if c.keep || rep.Failed() {
			fmt.Fprintf(log, "working directory kept: %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()
	sc := c.sc
	sc.Dir, sc.Log = work, log
	if len(sc.Conns)+len(sc.Sizes) > 0 {
		bin := c.bin
		if bin == "" {
			bin = filepath.Join(work, "bin")
			if err := build(ctx, c.root, bin, log); err != nil {
				return nil, err
			}
		}
		if sc.Bin, err = filepath.Abs(bin); err != nil {
			return nil, err
		}
	}
	rep.LoadBefore = numfmt.LoadAverage()
	scaling.Run(ctx, sc, rep)
	rep.LoadAfter = numfmt.LoadAverage()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, write(rep, c.out, out)
}

// write puts scaling.md, scaling.json and the charts into dir.
func write(rep *scaling.Report, dir string, out io.Writer) error {
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
	files := map[string][]byte{"scaling.md": md.Bytes(), "scaling.json": js.Bytes()}
	for name, ch := range rep.Charts() {
		var svg bytes.Buffer
		if err := ch.WriteSVG(&svg); err != nil {
			return err
		}
		files[name] = svg.Bytes()
	}
	names := make([]string, 0, len(files))
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(out, "\n%s\nwrote %s in %s\n", md.String(), strings.Join(names, ", "), dir)
	return nil
}

// render rewrites the report and charts from a saved scaling.json, for
// when the report's layout changed after the measurement.
func render(from, dir string, out io.Writer) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var rep scaling.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("parse %s: %w", from, err)
	}
	return write(&rep, dir, out)
}

// build compiles the forwarder, so the run measures the tree as it is.
func build(ctx context.Context, root, bin string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	fmt.Fprintln(log, "building ./cmd/forwarder")
	return pipeline.Build(ctx, root, bin, "./cmd/forwarder")
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
