package forwarding

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

// ReadoutConfig says how to run readout's forwarder and collector.
type ReadoutConfig struct {
	Bin     string        // folder holding the forwarder and collector binaries
	Dir     string        // working directory (socket, spool, WAL, output, logs)
	Timeout time.Duration // the whole run, start to stop
	Poll    time.Duration // how often to check that the daemons are alive
	Log     io.Writer     // progress lines; nil for none
	// NullCollector ships to a receiver that acknowledges every batch at
	// once instead of a real collector: the forwarder alone, measured as
	// rsyslog is (against a receiver that does nothing).
	NullCollector bool
	// Extra flags for each daemon, after the contract flags.
	ForwarderFlags, CollectorFlags []string
	// PerfOut, when set, is where perf records the forwarder's call stacks
	// during the measured interval.
	PerfOut string
}

// RunReadout starts a forwarder (and a collector), writes the Cap'n Proto
// streams into the forwarder's socket, and measures until the receiver has
// acknowledged every event. Failures are returned in Result.Error.
func RunReadout(ctx context.Context, cfg ReadoutConfig, p *Payloads) (res Result) {
	res = Result{Key: KeyReadout, Setup: "readout forwarder to collector", Process: "forwarder", Events: p.Events,
		InBytesPerEvent: float64(Bytes(p.Capnp)) / float64(p.Events)}
	if cfg.NullCollector {
		res.Key, res.Setup = KeyReadoutNull, "readout forwarder to null receiver"
	}
	if err := runReadout(ctx, cfg, p, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func runReadout(ctx context.Context, cfg ReadoutConfig, p *Payloads, res *Result) error {
	need := []string{"forwarder", "collector"}
	if cfg.NullCollector {
		need = need[:1]
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(cfg.Bin, b)); err != nil {
			return fmt.Errorf("%s binary missing from %s (build with: go build -o %s/ ./cmd/forwarder ./cmd/collector)", b, cfg.Bin, cfg.Bin)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	pl, err := pipeline.New(cfg.Bin, cfg.Dir)
	if err != nil {
		return err
	}
	defer pl.KillAll()
	pl.ForwarderFlags, pl.CollectorFlags = cfg.ForwarderFlags, cfg.CollectorFlags
	upstream := ""
	if !cfg.NullCollector {
		if err := pl.StartCollector(ctx); err != nil {
			return fmt.Errorf("start collector: %w", err)
		}
		upstream = pl.CollectorAddr
	}
	relay, err := NewBatchRelay(upstream, int64(p.Events))
	if err != nil {
		return fmt.Errorf("start batch relay: %w", err)
	}
	defer relay.Close()
	pl.CollectorAddr = relay.Addr() // the forwarder ships through the relay
	if err := pl.StartForwarder(ctx); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	res.Config = "forwarder " + strings.Join(pl.Forwarder.Args, " ")
	if pl.Collector != nil {
		res.Config += "\ncollector " + strings.Join(pl.Collector.Args, " ")
	}

	snd, err := Dial(ctx, pl.Socket, len(p.Capnp), p.PerConn)
	if err != nil {
		return err
	}
	defer snd.Close()
	fwd0, err := ReadCPU(pl.Forwarder.Pid())
	if err != nil {
		return err
	}
	var col0 time.Duration
	if pl.Collector != nil {
		if col0, err = ReadCPU(pl.Collector.Pid()); err != nil {
			return err
		}
	}

	stopPerf := func() error { return nil }
	if cfg.PerfOut != "" {
		if stopPerf, err = Profile(pl.Forwarder.Pid(), cfg.PerfOut); err != nil {
			return err
		}
		defer stopPerf()
		if fwd0, err = ReadCPU(pl.Forwarder.Pid()); err != nil {
			return err
		}
	}

	start := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctx, p.Capnp) }()
	if err := waitReadout(ctx, cfg, pl, relay, snd, sent, start); err != nil {
		return err
	}
	fwd, err := ReadUsage(pl.Forwarder.Pid())
	if err != nil {
		return err
	}
	if err := stopPerf(); err != nil {
		return err
	}
	wall := relay.ReachedAt().Sub(start).Seconds()
	res.WallSeconds = wall
	res.EventsPerSec = float64(p.Events) / wall
	if at := snd.AckedAt(); !at.IsZero() {
		res.IngestSeconds = at.Sub(start).Seconds()
	}
	res.CPUSeconds = (fwd.CPU - fwd0).Seconds()
	res.CPUPerMillion = perMillion(res.CPUSeconds, p.Events)
	res.PeakRSSMiB = mib(fwd.PeakRSS)
	res.OutBytesPerEvent = float64(relay.Up.Load()) / float64(p.Events)
	if pl.Collector != nil {
		col, err := ReadUsage(pl.Collector.Pid())
		if err != nil {
			return err
		}
		cpu := (col.CPU - col0).Seconds()
		res.Receiver = &ReceiverUsage{Process: "collector", CPUSeconds: cpu,
			CPUPerMillion: perMillion(cpu, p.Events), PeakRSSMiB: mib(col.PeakRSS)}
	}
	if n := relay.Undecodable(); n > 0 {
		return fmt.Errorf("%d batch requests did not decode as Batch messages", n)
	}
	if err := snd.AckErr(); err != nil {
		return err
	}

	snd.Close()
	if err := pl.Drain(30 * time.Second); err != nil {
		return fmt.Errorf("measured, but the drain failed: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Bin, "readout")); err != nil || pl.Collector == nil {
		return nil // no CLI or no collector output to audit; the measurement stands
	}
	a, err := audit(ctx, pl)
	if err != nil {
		return fmt.Errorf("measured, but the audit failed: %w", err)
	}
	res.Audit = a
	if a.Received != int64(p.Events) || a.Unexplained != 0 {
		return fmt.Errorf("audit: received %d of %d events, %d unexplained", a.Received, p.Events, a.Unexplained)
	}
	return nil
}

// waitReadout waits until the relay has passed the acknowledgement of the
// last event back to the forwarder. It reads no metrics: a scrape costs the
// forwarder milliseconds of CPU, which would be charged to it.
func waitReadout(ctx context.Context, cfg ReadoutConfig, pl *pipeline.Pipeline, relay *BatchRelay, snd *Sender, sent <-chan error, start time.Time) error {
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	lastLog := start
	st := stall{}
	for {
		select {
		case <-relay.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for the receiver to acknowledge %d events (has %d): %w (logs in %s)",
				relay.want, relay.Events(), ctx.Err(), cfg.Dir)
		case err := <-sent:
			if err != nil {
				return err
			}
			sent = nil
		case now := <-tick.C:
			for _, proc := range []*pipeline.Process{pl.Forwarder, pl.Collector} {
				if proc != nil && !proc.Alive() {
					return fmt.Errorf("%s died during the run; log tail: %s", proc.Name, proc.Tail(600))
				}
			}
			if st.stuck(now, relay.Events(), sent == nil) {
				return fmt.Errorf("stalled: %d of %d events acknowledged and none for %s after everything was written (logs in %s)",
					relay.Events(), relay.want, stallAfter, cfg.Dir)
			}
			if cfg.Log != nil && now.Sub(lastLog) >= 2*time.Second {
				fmt.Fprintf(cfg.Log, "  readout: %d of %d acknowledged by the receiver after %.1fs\n", relay.Events(), relay.want, now.Sub(start).Seconds())
				lastLog = now
			}
		}
	}
}

// audit sums `readout audit` over every emitter.
func audit(ctx context.Context, pl *pipeline.Pipeline) (*Audit, error) {
	rows, err := pl.AuditJSON(ctx)
	if err != nil {
		return nil, err
	}
	a := &Audit{Emitters: len(rows)}
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
