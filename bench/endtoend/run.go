package endtoend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/internal/pipeline"
)

// Config says what to run and how much.
type Config struct {
	Bin      string // folder with forwarder, collector, loadgen and readout
	Dir      string // working directory; each stage gets a folder inside
	Events   int
	Emitters int
	Rate     float64 // loadgen --rate; 0 as fast as it can
	Seed     uint64
	Timeout  time.Duration // per stage
	Poll     time.Duration // how often to check that the processes are alive
	// Hops adds the two stages that measure each hop alone.
	Hops                           bool
	ForwarderFlags, CollectorFlags []string
	Log                            io.Writer // progress lines; nil for none
}

// acceptedMetric counts the events the collector has made durable and
// counted once (labelled by kind; summed).
const acceptedMetric = "readout_collector_events_accepted_total"

// stallAfter ends a stage whose receiver makes no progress for this long.
const stallAfter = 30 * time.Second

// Run measures the stages in turn. A failed stage is reported in its Error
// and does not stop the others.
func Run(ctx context.Context, cfg Config) []Stage {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	st := []Stage{runEndToEnd(ctx, cfg)}
	if cfg.Hops {
		st = append(st, runHops(ctx, cfg)...)
	}
	return st
}

func runEndToEnd(ctx context.Context, cfg Config) (s Stage) {
	s = Stage{Key: StageEndToEnd, Name: "loadgen to forwarder to collector", Events: cfg.Events,
		Interval: "the start of loadgen until the collector acknowledged (WAL fsynced) the batch holding the last event"}
	fmt.Fprintln(cfg.Log, "end to end: loadgen, forwarder, collector")
	if err := endToEnd(ctx, cfg, &s); err != nil {
		s.Error = err.Error()
	}
	return s
}

func endToEnd(ctx context.Context, cfg Config, s *Stage) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	pl, err := pipeline.New(cfg.Bin, filepath.Join(cfg.Dir, StageEndToEnd))
	if err != nil {
		return err
	}
	defer pl.KillAll()
	pl.ForwarderFlags, pl.CollectorFlags = cfg.ForwarderFlags, cfg.CollectorFlags
	if err := pl.StartCollector(ctx); err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	// The forwarder ships through a relay that counts the bytes on that hop.
	relay, err := newByteRelay(pl.CollectorAddr)
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	defer relay.Close()
	pl.CollectorAddr = relay.Addr()
	if err := pl.StartForwarder(ctx); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	var m meter
	for _, p := range []*pipeline.Process{pl.Forwarder, pl.Collector} {
		if err := m.add(p.Name, p.Pid()); err != nil {
			return err
		}
	}
	if err := m.add(harnessName, os.Getpid()); err != nil {
		return err
	}
	lg, err := startLoadgen(cfg.Bin, pl.Dir, pl.Socket, cfg.Events, cfg.Emitters, cfg.Rate, cfg.Seed)
	if err != nil {
		return err
	}
	defer lg.kill()
	watch := watchAccepted(ctx, pl.CollectorMetrics, int64(cfg.Events))
	if err := wait(ctx, cfg, watch.Done(), watch.Events, lg, true, pl.Forwarder, pl.Collector); err != nil {
		return err
	}
	procs, err := m.usages(cfg.Events)
	if err != nil {
		return err
	}
	s.WallSeconds = watch.ReachedAt().Sub(lg.start).Seconds()
	s.EventsPerSec = float64(cfg.Events) / s.WallSeconds
	// loadgen ends once its emitters' last events are acknowledged, which
	// the forwarder does before it ships them: it has exited, or is about to.
	select {
	case <-lg.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("loadgen still running 30 s after the collector had every event")
	}
	if lg.err != nil {
		return fmt.Errorf("loadgen: %w (log %s)", lg.err, filepath.Join(pl.Dir, "loadgen.log"))
	}
	s.Procs = append([]Usage{lg.usage(cfg.Events)}, procs...)
	if _, dropped, err := lg.stats(); err == nil {
		s.Dropped = dropped
	} else {
		return err
	}
	// One scrape each, after the CPU readings.
	if b, ok := pipeline.Metric(pl.ForwarderMetrics, "readout_forwarder_received_bytes_total"); ok {
		s.InBytesPerEvent = b / float64(cfg.Events)
	}
	if n, ok := pipeline.Metric(pl.CollectorMetrics, acceptedMetric); ok {
		s.CollectorAccepted = int64(n)
	}
	fmt.Fprintf(cfg.Log, "  %d events in %.2fs: %.0f events/s\n", cfg.Events, s.WallSeconds, s.EventsPerSec)
	err = finish(ctx, pl, s)
	relay.Close() // after the drain: its counts are final once it has closed
	s.OutBytesPerEvent = float64(relay.Up.Load()) / float64(cfg.Events)
	return err
}

// finish drains the pipeline and audits its output.
func finish(ctx context.Context, pl *pipeline.Pipeline, s *Stage) error {
	if err := pl.Drain(30 * time.Second); err != nil {
		return fmt.Errorf("measured, but the drain failed: %w", err)
	}
	a, err := audit(ctx, pl)
	if err != nil {
		return fmt.Errorf("measured, but the audit failed: %w", err)
	}
	s.Audit = a
	if a.Received+int64(s.Dropped) != int64(s.Events) || a.Unexplained != 0 || a.Duplicates != 0 {
		return fmt.Errorf("audit: received %d of %d events (%d dropped by the emitters), %d unexplained, %d duplicates",
			a.Received, s.Events, s.Dropped, a.Unexplained, a.Duplicates)
	}
	return nil
}

// runHops measures each hop alone on the same events: loadgen into a
// forwarder whose collector is down (the emitter hop: until loadgen has
// every event acknowledged, that is durable in the spool), then a fresh
// forwarder that finds the full spool, shipping it to a collector started
// beforehand (the forwarder-to-collector hop).
func runHops(ctx context.Context, cfg Config) []Stage {
	em := Stage{Key: StageEmitter, Name: "loadgen to forwarder spool, collector down", Events: cfg.Events,
		Interval: "the start of loadgen until it exited, its emitters having every event acknowledged (durable in the spool)"}
	dr := Stage{Key: StageDrain, Name: "forwarder spool to collector", Events: cfg.Events,
		Interval: "the start of a forwarder on the full spool until the collector acknowledged the batch holding the last event"}
	fmt.Fprintln(cfg.Log, "emitter hop: loadgen into a forwarder whose collector is down")
	if err := hops(ctx, cfg, &em, &dr); err != nil {
		if em.WallSeconds == 0 {
			em.Error = err.Error()
			dr.Error = "not run: the emitter hop failed"
		} else {
			dr.Error = err.Error()
		}
	}
	return []Stage{em, dr}
}

func hops(ctx context.Context, cfg Config, em, dr *Stage) error {
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.Timeout)
	defer cancel()
	pl, err := pipeline.New(cfg.Bin, filepath.Join(cfg.Dir, "hops"))
	if err != nil {
		return err
	}
	defer pl.KillAll()
	// A short drain timeout: with the collector down, the first forwarder
	// could only wait out the default 30 s on stop.
	pl.ForwarderFlags = append(append([]string{}, cfg.ForwarderFlags...), "--drain-timeout", "1s")
	pl.CollectorFlags = cfg.CollectorFlags
	if err := pl.StartForwarder(ctx); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	var m meter
	if err := m.add("forwarder", pl.Forwarder.Pid()); err != nil {
		return err
	}
	lg, err := startLoadgen(cfg.Bin, pl.Dir, pl.Socket, cfg.Events, cfg.Emitters, cfg.Rate, cfg.Seed)
	if err != nil {
		return err
	}
	defer lg.kill()
	if err := wait(ctx, cfg, lg.done, nil, lg, false, pl.Forwarder); err != nil {
		return err
	}
	procs, err := m.usages(cfg.Events)
	if err != nil {
		return err
	}
	if lg.err != nil {
		return fmt.Errorf("loadgen: %w (log %s)", lg.err, filepath.Join(pl.Dir, "loadgen.log"))
	}
	em.WallSeconds = lg.endedAt.Sub(lg.start).Seconds()
	em.EventsPerSec = float64(cfg.Events) / em.WallSeconds
	em.Procs = append([]Usage{lg.usage(cfg.Events)}, procs...)
	_, dropped, err := lg.stats()
	if err != nil {
		return err
	}
	em.Dropped, dr.Dropped = dropped, dropped
	fmt.Fprintf(cfg.Log, "  %d events in %.2fs: %.0f events/s\n", cfg.Events, em.WallSeconds, em.EventsPerSec)
	if err := pl.Forwarder.Stop(30 * time.Second); err != nil {
		return fmt.Errorf("stop the first forwarder: %w", err)
	}

	fmt.Fprintln(cfg.Log, "forwarder-to-collector hop: a fresh forwarder ships the full spool")
	if err := pl.StartCollector(ctx); err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	want := int64(cfg.Events) - int64(dropped)
	relay, err := newByteRelay(pl.CollectorAddr)
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	defer relay.Close()
	pl.CollectorAddr = relay.Addr()
	// The second forwarder's CPU and writes count from its start: opening
	// the spool is part of the drain.
	var dm meter
	fwd2 := dm.addNew("forwarder")
	if err := dm.add("collector", pl.Collector.Pid()); err != nil {
		return err
	}
	if err := dm.add(harnessName, os.Getpid()); err != nil {
		return err
	}
	start := time.Now()
	if err := pl.StartForwarder(ctx); err != nil {
		return fmt.Errorf("start the second forwarder: %w", err)
	}
	fwd2.pid = pl.Forwarder.Pid()
	watch := watchAccepted(ctx, pl.CollectorMetrics, want)
	if err := wait(ctx, cfg, watch.Done(), watch.Events, nil, false, pl.Forwarder, pl.Collector); err != nil {
		return err
	}
	if dr.Procs, err = dm.usages(cfg.Events); err != nil {
		return err
	}
	dr.WallSeconds = watch.ReachedAt().Sub(start).Seconds()
	dr.EventsPerSec = float64(want) / dr.WallSeconds
	if n, ok := pipeline.Metric(pl.CollectorMetrics, acceptedMetric); ok {
		dr.CollectorAccepted = int64(n)
	}
	fmt.Fprintf(cfg.Log, "  %d events in %.2fs: %.0f events/s\n", want, dr.WallSeconds, dr.EventsPerSec)
	err = finish(ctx, pl, dr)
	relay.Close()
	dr.OutBytesPerEvent = float64(relay.Up.Load()) / float64(want)
	return err
}

// harnessName labels this process's own CPU over a stage: the relay and
// the polling, which share the machine's CPUs with the pipeline measured.
const harnessName = "harness"

// meter measures processes over a stage: CPU time and bytes sent to
// storage from the stage's start (or, for a process started inside the
// stage, from its own start) to the moment usages is called.
type meter []*metered

type metered struct {
	name string
	pid  int
	cpu0 time.Duration
	w0   int64
}

// add takes a running process's readings now, as the stage's start.
func (m *meter) add(name string, pid int) error {
	e := &metered{name: name, pid: pid}
	var err error
	if e.cpu0, err = forwarding.ReadCPU(pid); err != nil {
		return err
	}
	if e.w0, err = readWriteBytes(pid); err != nil {
		return err
	}
	*m = append(*m, e)
	return nil
}

// addNew adds a process not started yet, measured from zero; set its pid
// once it runs.
func (m *meter) addNew(name string) *metered {
	e := &metered{name: name}
	*m = append(*m, e)
	return e
}

// usages reads every process now and returns their costs over the stage,
// in the order they were added.
func (m meter) usages(events int) ([]Usage, error) {
	out := make([]Usage, len(m))
	for i, e := range m {
		u, err := forwarding.ReadUsage(e.pid)
		if err != nil {
			return nil, err
		}
		w, err := readWriteBytes(e.pid)
		if err != nil {
			return nil, err
		}
		cpu := (u.CPU - e.cpu0).Seconds()
		out[i] = Usage{Process: e.name, CPUSeconds: cpu, CPUPerMillion: perMillion(cpu, events), PeakRSSMiB: mib(u.PeakRSS)}
		if events > 0 {
			out[i].DiskWritePerEvent = float64(w-e.w0) / float64(events)
		}
	}
	return out, nil
}

// wait blocks until done closes, checking every cfg.Poll that the daemons
// are alive, that loadgen, when it may end before done (lgMayEnd), did not
// fail, and that progress (when given) does not stall.
func wait(ctx context.Context, cfg Config, done <-chan struct{}, progress func() int64, lg *loadgen, lgMayEnd bool, procs ...*pipeline.Process) error {
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	start := time.Now()
	lastLog, lastMove := start, start
	var last int64
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stage did not finish: %w (logs in %s)", ctx.Err(), cfg.Dir)
		case now := <-tick.C:
			for _, p := range procs {
				if !p.Alive() {
					return fmt.Errorf("%s died during the run; log tail: %s", p.Name, p.Tail(600))
				}
			}
			if lg != nil && lgMayEnd {
				select {
				case <-lg.done:
					if lg.err != nil {
						return fmt.Errorf("loadgen: %w", lg.err)
					}
				default:
				}
			}
			if progress != nil {
				if n := progress(); n != last {
					last, lastMove = n, now
				} else if now.Sub(lastMove) > stallAfter {
					return fmt.Errorf("stalled at %d events for %s (logs in %s)", n, stallAfter, cfg.Dir)
				}
				if now.Sub(lastLog) >= 2*time.Second {
					fmt.Fprintf(cfg.Log, "  %d events acknowledged by the collector after %.1fs\n", last, now.Sub(start).Seconds())
					lastLog = now
				}
			}
		}
	}
}

// audit sums `readout audit` over every emitter.
func audit(ctx context.Context, pl *pipeline.Pipeline) (*forwarding.Audit, error) {
	if _, err := os.Stat(filepath.Join(pl.Bin, "readout")); err != nil {
		return nil, fmt.Errorf("no readout binary in %s to audit with", pl.Bin)
	}
	rows, err := pl.AuditJSON(ctx)
	if err != nil {
		return nil, err
	}
	a := &forwarding.Audit{Emitters: len(rows)}
	for _, r := range rows {
		for k, dst := range map[string]*int64{"sent": &a.Sent, "received": &a.Received,
			"duplicates": &a.Duplicates, "unexplained": &a.Unexplained} {
			n, ok := r[k].(json.Number)
			if !ok {
				return nil, fmt.Errorf("audit row lacks numeric %q: %v", k, r)
			}
			v, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("audit row %q: %w", k, err)
			}
			*dst += v
		}
	}
	return a, nil
}
