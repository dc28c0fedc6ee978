// Command loadgen is a simulated inference fleet: several emitter instances
// (one per simulated server process) report realistic inference events to a
// readout forwarder through the emitter library, and --truth records what
// they reported as sent, for comparison with the pipeline's output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/internal/truth"
	"github.com/readout-dev/readout/wire"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// config is the parsed command line.
type config struct {
	socket       string
	events       int
	seed         uint64
	rate         float64
	truthFile    string
	emitters     int
	accounts     int
	errorRate    float64
	lateFraction float64
	wait         bool
	buffer       int
	closeTimeout time.Duration
	reconnect    time.Duration
	quiet        bool

	streams     map[string]bool // which fleets run: "inference", "instances"
	instances   int
	simDuration time.Duration
	reportAddr  string
}

func (c *config) validate() error {
	switch {
	case c.socket == "":
		return errors.New("--socket is required")
	case len(c.streams) == 0:
		return errors.New("--streams names no stream")
	case c.streams["inference"] && c.events <= 0:
		return fmt.Errorf("--events must be positive, got %d", c.events)
	case !c.streams["inference"] && c.events != 0:
		return errors.New("--events is for the inference stream, which --streams leaves out")
	case c.streams["instances"] && c.instances <= 0:
		return fmt.Errorf("--instances must be positive, got %d", c.instances)
	case c.streams["instances"] && c.simDuration < time.Minute:
		return fmt.Errorf("--sim-duration must be at least 1m, got %v", c.simDuration)
	case c.reportAddr != "" && !c.streams["instances"]:
		return errors.New("--report-addr is for the instances stream, which --streams leaves out")
	case c.rate < 0:
		return fmt.Errorf("--rate must be 0 (as fast as possible) or positive, got %v", c.rate)
	case c.emitters <= 0:
		return fmt.Errorf("--emitters must be positive, got %d", c.emitters)
	case c.accounts <= 0:
		return fmt.Errorf("--accounts must be positive, got %d", c.accounts)
	case c.errorRate < 0 || c.errorRate > 1:
		return fmt.Errorf("--error-rate must be within [0, 1], got %v", c.errorRate)
	case c.lateFraction < 0 || c.lateFraction > 1:
		return fmt.Errorf("--late-fraction must be within [0, 1], got %v", c.lateFraction)
	case c.buffer <= 0:
		return fmt.Errorf("--buffer must be positive, got %d", c.buffer)
	case c.closeTimeout <= 0:
		return fmt.Errorf("--close-timeout must be positive, got %v", c.closeTimeout)
	case c.reconnect <= 0:
		return fmt.Errorf("--reconnect-interval must be positive, got %v", c.reconnect)
	}
	return nil
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by run
	fs.Usage = func() {}     // the flag package calls it on every error
	usage := func() {
		fmt.Fprintf(stderr, "Usage: loadgen --socket PATH --events N [--seed S] [--rate R] [--truth FILE] [flags]\n"+
			"       loadgen --socket PATH --streams inference,instances --events N [--report-addr HOST:PORT] [flags]\n\n"+
			"Simulates a fleet of inference servers, each with its own emitter, sending N events in total\n"+
			"to the forwarder socket. The event stream is a function of --seed. With --truth, writes JSON\n"+
			"with totals and per-model requests, errors, neurons, input_tokens and output_tokens of the\n"+
			"events the emitters report as sent, and their final stats. Exit status 0 when it ran (even\n"+
			"with drops), 2 on bad flags.\n\n"+
			"--streams instances adds a fleet of model instances run the Replicate way (boot, setup with\n"+
			"downloads, overlapping predictions; one deployment fails setup), each linking the instancestate,\n"+
			"setuprun and prediction libraries over --sim-duration of simulated time ending now; the truth\n"+
			"file's \"streams\" object then holds per-deployment sums of everything they sent.\n\nFlags:\n")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fs.StringVar(&c.socket, "socket", "", "forwarder Unix socket `path` (required)")
	fs.IntVar(&c.events, "events", 0, "events to send in total, across emitters (required)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed; the same seed gives the same events")
	fs.Float64Var(&c.rate, "rate", 0, "events per second in total; 0 sends as fast as possible")
	fs.StringVar(&c.truthFile, "truth", "", "write the truth JSON to this `file`")
	fs.IntVar(&c.emitters, "emitters", 4, "simulated server processes, one emitter each")
	fs.IntVar(&c.accounts, "accounts", 150, "number of customer accounts (traffic is Zipf-skewed)")
	fs.Float64Var(&c.errorRate, "error-rate", 0.015, "fraction of requests that fail")
	fs.Float64Var(&c.lateFraction, "late-fraction", 0.01, "fraction of events timestamped 2 to 10 minutes in the past")
	fs.BoolVar(&c.wait, "wait", true, "wait for room in the emitter's buffer (EmitWait) instead of dropping (Emit)")
	// Larger than the library's default of 64, which a real server would
	// keep: a simulated server emits far faster than a real one, and fewer
	// writer wake-ups let four emitters push over 500k events/s on 2 cores.
	fs.IntVar(&c.buffer, "buffer", 512, "emitter buffer slots")
	fs.DurationVar(&c.closeTimeout, "close-timeout", 30*time.Second, "how long each emitter's Close may flush and wait for acknowledgements")
	fs.DurationVar(&c.reconnect, "reconnect-interval", emitter.DefaultReconnectInterval, "how often a disconnected emitter tries the forwarder again")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line on stderr")
	streams := fs.String("streams", "inference", "comma-separated `list` of fleets to run: inference (servers emitting per-request events),\n"+
		"instances (model instances reporting instance state, setup runs, predictions and downloads)")
	fs.IntVar(&c.instances, "instances", 8, "model instances in the instances fleet, across 4 deployments (one of which fails setup)")
	fs.DurationVar(&c.simDuration, "sim-duration", 10*time.Minute, "simulated lifetime of each instance, ending now; it runs in seconds")
	fs.StringVar(&c.reportAddr, "report-addr", "", "forwarder's JSON report `address` (its --report-addr): instances report downloads there\n"+
		"as JSON; without it, through their emitters")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.streams = map[string]bool{}
	for _, s := range strings.Split(*streams, ",") {
		switch s = strings.TrimSpace(s); s {
		case "inference", "instances":
			c.streams[s] = true
		case "":
		default:
			return nil, fmt.Errorf("--streams: unknown stream %q (want inference or instances)", s)
		}
	}
	return c, c.validate()
}

func run(args []string, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v (see loadgen --help)\n", err)
		return 2
	}
	// SIGINT or SIGTERM stops generating; the emitters still close and the
	// truth covers what was sent.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := generateAll(ctx, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	s := t.Emitter
	if c.streams["inference"] {
		fmt.Fprintf(stderr, "loadgen: %d events emitted, %d sent, %d dropped, %d replayed, %d/%d emitters closed cleanly\n",
			s.Emitted, s.Sent, s.Dropped, s.Replayed, s.ClosedAcked, s.Emitters)
	}
	if c.truthFile != "" {
		if err := truth.Write(c.truthFile, t); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	}
	return 0
}

// generateAll runs the fleets --streams names, side by side, and returns
// the truth about what they sent.
func generateAll(ctx context.Context, c *config, stderr io.Writer) (*truth.File, error) {
	var (
		t            = &truth.File{Seed: c.seed, ByModel: map[string]truth.Totals{}}
		inferenceErr error
		wg           sync.WaitGroup
	)
	if c.streams["inference"] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var it *truth.File
			if it, inferenceErr = generate(ctx, c, stderr); inferenceErr == nil {
				t = it
			}
		}()
	}
	var (
		streams  *truth.Streams
		insStats []emitter.Stats
		insErr   error
	)
	if c.streams["instances"] {
		streams, insStats, insErr = runInstances(ctx, c)
		if insErr == nil {
			s := truth.SumStats(insStats)
			fmt.Fprintf(stderr, "loadgen: %d instances: %d events emitted, %d sent, %d dropped, %d/%d emitters closed cleanly\n",
				c.instances, s.Emitted, s.Sent, s.Dropped, s.ClosedAcked, s.Emitters)
		}
	}
	wg.Wait()
	if err := errors.Join(inferenceErr, insErr); err != nil {
		return nil, err
	}
	t.Streams = streams
	return t, nil
}

// generate runs the fleet and returns the truth about what it sent.
func generate(ctx context.Context, c *config, stderr io.Writer) (*truth.File, error) {
	ems := make([]*emitter.Emitter, c.emitters)
	for k := range ems {
		e, err := emitter.New(emitter.Options{SocketPath: c.socket, BufferSize: c.buffer, ReconnectInterval: c.reconnect})
		if err != nil {
			for _, e := range ems[:k] {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				_ = e.Close(ctx)
				cancel()
			}
			return nil, err
		}
		ems[k] = e
	}
	var progress atomic.Int64
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if c.quiet {
			<-stopProgress
			return
		}
		reportProgress(stderr, c.events, &progress, stopProgress)
	}()

	tallies := make([]*tally, c.emitters)
	stats := make([]emitter.Stats, c.emitters)
	errs := make([]error, c.emitters)
	var wg sync.WaitGroup
	for k := range ems {
		n := c.events / c.emitters
		if k < c.events%c.emitters {
			n++
		}
		tallies[k] = newTally(c.buffer)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = simulate(ctx, c, k, n, ems[k], tallies[k], &progress)
			ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
			defer cancel()
			if err := ems[k].Close(ctx); err != nil {
				fmt.Fprintf(stderr, "loadgen: emitter %d: %v\n", k, err)
			}
			stats[k] = ems[k].Stats()
			if err := tallies[k].settle(stats[k].DroppedByReason.CloseTimeout); err != nil && errs[k] == nil {
				errs[k] = err
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return buildTruth(c.seed, c.events, tallies, stats), nil
}

// simulate sends one emitter's n events, paced to its share of --rate.
// It stops early, without error, when ctx ends.
func simulate(ctx context.Context, c *config, k, n int, e *emitter.Emitter, t *tally, progress *atomic.Int64) error {
	g := newGenerator(c.seed, k, c.accounts, c.errorRate, c.lateFraction)
	var perEvent time.Duration
	if c.rate > 0 {
		perEvent = time.Duration(float64(time.Second) * float64(c.emitters) / c.rate)
	}
	start := time.Now()
	var ev wire.Inference
	const batch = 256 // progress and pacing are checked this often
	reported := 0
	for i := 0; i < n; i++ {
		if i%batch == 0 && i > 0 {
			progress.Add(batch)
			reported += batch
			if ctx.Err() != nil {
				return nil
			}
			if perEvent > 0 {
				pause(ctx, time.Duration(i)*perEvent-time.Since(start))
			}
		}
		if perEvent > 0 && perEvent*batch > 50*time.Millisecond {
			// Slow rates: pace every event, not in bursts of a batch.
			pause(ctx, time.Duration(i)*perEvent-time.Since(start))
			if ctx.Err() != nil {
				break
			}
		}
		mi, late := g.next(&ev)
		var at time.Time // zero: the emitter stamps the time
		if late > 0 {
			at = time.Now().Add(-late)
		}
		ok := true
		if c.wait {
			if err := e.EmitWait(ctx, at, &ev); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted: the event was not emitted
				}
				return fmt.Errorf("emitter %d: %w", k, err)
			}
		} else if at.IsZero() {
			ok = e.Emit(&ev)
		} else {
			ok = e.EmitAt(at, &ev)
		}
		if ok {
			t.accepted(contribution{model: uint8(mi), failed: ev.ErrorCode != 0, streamed: ev.Streamed,
				neurons: ev.Neurons, in: ev.InputTokens, out: ev.OutputTokens})
		}
	}
	progress.Add(int64(n - reported))
	return nil
}

// pause sleeps for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// reportProgress prints one status line a second until stop is closed.
func reportProgress(w io.Writer, total int, progress *atomic.Int64, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastT := int64(0), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			p := progress.Load()
			rate := float64(p-last) / now.Sub(lastT).Seconds()
			fmt.Fprintf(w, "loadgen: %d/%d events, %.0f events/s\n", p, total, rate)
			last, lastT = p, now
		}
	}
}
