// Package endtoend measures readout's whole pipeline as real processes on
// one machine: loadgen (the emitter library in a simulated fleet), the
// forwarder and the collector, end to end and one hop at a time, so that the
// slowest hop is visible.
package endtoend

import (
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
)

// Keys of the stages, in the order they run.
const (
	StageEndToEnd = "end-to-end"
	StageEmitter  = "emitter-hop"
	StageDrain    = "forwarder-to-collector-hop"
)

// Usage is one process's cost over a stage.
type Usage struct {
	Process       string  `json:"process"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	// DiskWritePerEvent is write_bytes from /proc/PID/io over the stage
	// per event: what the process sent to storage (spool, WAL, files).
	DiskWritePerEvent float64 `json:"disk_write_bytes_per_event"`
}

// Stage is one measured interval.
type Stage struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Events int    `json:"events"`
	// What the interval runs from and to, in words.
	Interval     string  `json:"interval"`
	WallSeconds  float64 `json:"wall_seconds"`
	EventsPerSec float64 `json:"events_per_second"`
	Procs        []Usage `json:"processes"`
	// Bytes per event on each hop: emitter to forwarder (valid frames, the
	// forwarder's received_bytes_total) and forwarder to collector (HTTP
	// requests, headers included, counted by a relay in the harness, and
	// the few requests of the final drain).
	InBytesPerEvent  float64 `json:"emitter_to_forwarder_bytes_per_event,omitempty"`
	OutBytesPerEvent float64 `json:"forwarder_to_collector_bytes_per_event,omitempty"`
	Dropped          uint64  `json:"emitter_dropped,omitempty"`
	// CollectorAccepted is readout_collector_events_accepted_total (all
	// kinds), scraped once at the end of the stage, after the CPU readings.
	CollectorAccepted int64             `json:"collector_events_accepted,omitempty"`
	Audit             *forwarding.Audit `json:"audit,omitempty"`
	Error             string            `json:"error,omitempty"`
}

// Report is one run of the pipeline benchmark.
type Report struct {
	Date     time.Time          `json:"date"`
	Command  string             `json:"command"`
	Machine  forwarding.Machine `json:"machine"`
	Events   int                `json:"events"`
	Emitters int                `json:"emitters"`
	Rate     float64            `json:"rate"` // events/s asked of loadgen; 0 as fast as it can
	// Load averages (1, 5, 15 min) before and after the run.
	LoadBefore string `json:"load_average_before,omitempty"`
	LoadAfter  string `json:"load_average_after,omitempty"`
	// DiskBytesPerSec is what a probe measured before the stages: 4 MiB
	// writes to the work folder, each fsynced. 0 when not probed.
	DiskBytesPerSec float64 `json:"disk_fsynced_bytes_per_second,omitempty"`
	Stages          []Stage `json:"stages"`
}

// Failed reports whether any stage failed.
func (r *Report) Failed() bool {
	for _, s := range r.Stages {
		if s.Error != "" {
			return true
		}
	}
	return false
}

func perMillion(cpu float64, events int) float64 {
	if events <= 0 {
		return 0
	}
	return cpu * 1e6 / float64(events)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
