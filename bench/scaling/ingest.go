// Package scaling measures how readout's costs grow: forwarder ingest
// against the number of emitter connections and against event size, and
// the collector's decode-and-aggregate against the number of active
// aggregation keys. Its report has a table and an SVG chart per curve.
package scaling

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/internal/pipeline"
)

// IngestPoint is the forwarder's ingest into its spool at one setting.
type IngestPoint struct {
	Conns         int     `json:"connections"`
	FrameBytes    float64 `json:"frame_bytes"` // mean frame size
	Events        int     `json:"events"`
	WallSeconds   float64 `json:"wall_seconds"`
	EventsPerSec  float64 `json:"events_per_second"`
	MBPerSec      float64 `json:"mb_per_second"` // frame bytes, 10^6 bytes
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	Error         string  `json:"error,omitempty"`
}

// IngestConfig says how to run the forwarder.
type IngestConfig struct {
	Bin            string // folder holding the forwarder binary
	Dir            string // working directory for this point
	Timeout        time.Duration
	ForwarderFlags []string
}

// MeasureIngest starts a forwarder whose collector is down (so that it
// only ingests and spools), writes stream i on connection i, all at once,
// and measures until every connection's last seq is acknowledged: durable
// in the spool. perConn is each stream's last seq.
func MeasureIngest(ctx context.Context, cfg IngestConfig, streams [][]byte, perConn []uint64) (pt IngestPoint) {
	var events uint64
	for _, n := range perConn {
		events += n
	}
	pt = IngestPoint{Conns: len(streams), Events: int(events)}
	if events > 0 {
		pt.FrameBytes = float64(forwarding.Bytes(streams)) / float64(events)
	}
	if err := measureIngest(ctx, cfg, streams, perConn, &pt); err != nil {
		pt.Error = err.Error()
	}
	return pt
}

func measureIngest(ctx context.Context, cfg IngestConfig, streams [][]byte, perConn []uint64, pt *IngestPoint) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	pl, err := pipeline.New(cfg.Bin, cfg.Dir)
	if err != nil {
		return err
	}
	defer pl.KillAll()
	// Nothing listens at the collector address: ship attempts fail at
	// connect, cheaply, and back off. The short drain timeout ends the
	// forwarder quickly afterwards.
	pl.ForwarderFlags = append(append([]string{}, cfg.ForwarderFlags...), "--drain-timeout", "1s",
		"--max-conns", fmt.Sprint(len(streams)+16))
	if err := pl.StartForwarder(ctx); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	snd, err := forwarding.Dial(ctx, pl.Socket, len(streams), perConn)
	if err != nil {
		return err
	}
	defer snd.Close()
	cpu0, err := forwarding.ReadCPU(pl.Forwarder.Pid())
	if err != nil {
		return err
	}
	start := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctx, streams) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-snd.Acked():
			break wait
		case err := <-sent:
			if err != nil {
				return err
			}
			sent = nil
		case <-ctx.Done():
			return fmt.Errorf("not every event acknowledged: %w (log %s)", ctx.Err(), filepath.Join(cfg.Dir, "forwarder.log"))
		case <-tick.C:
			if !pl.Forwarder.Alive() {
				return fmt.Errorf("forwarder died; log tail: %s", pl.Forwarder.Tail(600))
			}
		}
	}
	u, err := forwarding.ReadUsage(pl.Forwarder.Pid())
	if err != nil {
		return err
	}
	if err := snd.AckErr(); err != nil {
		return err
	}
	pt.WallSeconds = snd.AckedAt().Sub(start).Seconds()
	pt.EventsPerSec = float64(pt.Events) / pt.WallSeconds
	pt.MBPerSec = float64(forwarding.Bytes(streams)) / 1e6 / pt.WallSeconds
	pt.CPUSeconds = (u.CPU - cpu0).Seconds()
	pt.CPUPerMillion = pt.CPUSeconds * 1e6 / float64(pt.Events)
	pt.PeakRSSMiB = float64(u.PeakRSS) / (1 << 20)
	return nil
}
