package scaling

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"time"
)

// Config says which points to measure and how much at each.
type Config struct {
	Bin, Dir   string // forwarder binary folder; working directory
	Conns      []int  // connection counts
	ConnEvents int    // events per connection-count point
	Sizes      []int  // target frame bytes (1: the smallest the schema allows)
	// SizeBytes is the bytes budget of each event-size point: events =
	// SizeBytes / frame size, at most ConnEvents.
	SizeBytes int64
	SizeConns int
	Keys      []int // active key counts
	KeyEvents int   // timed events per key-count point, after FillPerKey per key
	Timeout   time.Duration
	Seed      uint64
	Log       io.Writer
}

// Run measures each curve in turn: connections, event size, keys.
func Run(ctx context.Context, cfg Config, r *Report) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	ic := func(name string) IngestConfig {
		return IngestConfig{Bin: cfg.Bin, Dir: filepath.Join(cfg.Dir, name), Timeout: cfg.Timeout}
	}
	for _, c := range cfg.Conns {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(cfg.Log, "connections: %d, %d events\n", c, cfg.ConnEvents)
		streams, per, err := Streams(cfg.ConnEvents, c, 0, cfg.Seed)
		if err != nil {
			r.Connections = append(r.Connections, IngestPoint{Conns: c, Error: err.Error()})
			continue
		}
		pt := MeasureIngest(ctx, ic(fmt.Sprintf("conns-%d", c)), streams, per)
		logIngest(cfg.Log, pt)
		r.Connections = append(r.Connections, pt)
		streams = nil
		debug.FreeOSMemory() // the next point's streams reuse the memory
	}
	for _, size := range cfg.Sizes {
		if ctx.Err() != nil {
			return
		}
		n := cfg.ConnEvents
		if cfg.SizeBytes > 0 {
			n = int(min(int64(n), cfg.SizeBytes/int64(max(size, 220))))
		}
		conns := max(cfg.SizeConns, 1)
		fmt.Fprintf(cfg.Log, "event size: about %d bytes, %d events\n", max(size, 220), n)
		streams, per, err := Streams(n, conns, size, cfg.Seed)
		if err != nil {
			r.EventSize = append(r.EventSize, IngestPoint{Conns: conns, Error: err.Error()})
			continue
		}
		pt := MeasureIngest(ctx, ic(fmt.Sprintf("size-%d", size)), streams, per)
		logIngest(cfg.Log, pt)
		r.EventSize = append(r.EventSize, pt)
		streams = nil
		debug.FreeOSMemory()
	}
	for _, k := range cfg.Keys {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(cfg.Log, "keys: %d, %d per key untimed, then %d events\n", k, FillPerKey, cfg.KeyEvents)
		pt := MeasureKeys(k, cfg.KeyEvents, cfg.Seed)
		if pt.Error != "" {
			fmt.Fprintf(cfg.Log, "  failed: %s\n", pt.Error)
		} else {
			fmt.Fprintf(cfg.Log, "  %.0f events/s, %.0f heap bytes per key\n", pt.EventsPerSec, pt.HeapBytesPerKey)
		}
		r.Keys = append(r.Keys, pt)
		debug.FreeOSMemory()
	}
}

func logIngest(w io.Writer, pt IngestPoint) {
	if pt.Error != "" {
		fmt.Fprintf(w, "  failed: %s\n", pt.Error)
		return
	}
	fmt.Fprintf(w, "  %.0f events/s, %.1f MB/s, forwarder %.2f CPU s per 1M events, peak RSS %.1f MiB\n",
		pt.EventsPerSec, pt.MBPerSec, pt.CPUPerMillion, pt.PeakRSSMiB)
}
