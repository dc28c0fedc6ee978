package endtoend

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/readout-dev/readout/bench/numfmt"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the stages as one table, one row per stage and
// process, then the audit and how to read it.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Pipeline throughput: loadgen, forwarder, collector\n\n")
	rate := "as fast as it can (`--rate 0`)"
	if r.Rate > 0 {
		rate = fmt.Sprintf("at %s events/s", numfmt.Thousands(r.Rate))
	}
	fmt.Fprintf(&b, "%s, %s events from %d emitters in one loadgen process, %s. Machine: %d CPUs, %s, Linux %s, %s.\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), numfmt.Thousands(float64(r.Events)), r.Emitters, rate,
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.Go)
	if r.LoadBefore != "" {
		fmt.Fprintf(&b, "Load average (1, 5, 15 min) before the run %s, after %s.\n", r.LoadBefore, r.LoadAfter)
	}
	fmt.Fprintf(&b, "Rerun: `%s`\n\n", r.Command)
	b.WriteString("| stage | events/s | wall s | process | CPU s | CPU s per 1M events | peak RSS MiB | disk writes B/event |\n")
	b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|\n")
	for _, s := range r.Stages {
		if s.Error != "" {
			fmt.Fprintf(&b, "| %s | failed: %s | | | | | | |\n", s.Name, oneLine(s.Error))
			continue
		}
		for i, p := range s.Procs {
			name, eps, wall := "", "", ""
			if i == 0 {
				name, eps, wall = s.Name, numfmt.Thousands(s.EventsPerSec), fmt.Sprintf("%.2f", s.WallSeconds)
			}
			disk := ""
			if p.DiskWritePerEvent > 0 {
				disk = fmt.Sprintf("%.0f", p.DiskWritePerEvent)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %.2f | %.1f | %s |\n", name, eps, wall, p.Process, p.CPUSeconds, p.CPUPerMillion, p.PeakRSSMiB, disk)
		}
	}
	b.WriteString("\n")
	var e2e, em, dr *Stage
	for i := range r.Stages {
		s := &r.Stages[i]
		if s.Error != "" {
			continue
		}
		switch s.Key {
		case StageEndToEnd:
			e2e = s
		case StageEmitter:
			em = s
		case StageDrain:
			dr = s
		}
		if s.InBytesPerEvent > 0 {
			fmt.Fprintf(&b, "- %s: %.0f bytes per event from the emitters to the forwarder (valid frames).\n", s.Name, s.InBytesPerEvent)
		}
		if s.OutBytesPerEvent > 0 {
			fmt.Fprintf(&b, "- %s: %.1f bytes per event from the forwarder to the collector (HTTP requests, headers included).\n", s.Name, s.OutBytesPerEvent)
		}
		if s.CollectorAccepted > 0 {
			fmt.Fprintf(&b, "- %s: the collector's readout_collector_events_accepted_total said %d when the last batch was acknowledged.\n", s.Name, s.CollectorAccepted)
		}
		if a := s.Audit; a != nil {
			fmt.Fprintf(&b, "- %s: `readout audit`: %d emitters, sent %d, received %d, emitter drops %d, duplicates %d, unexplained %d.\n",
				s.Name, a.Emitters, a.Sent, a.Received, s.Dropped, a.Duplicates, a.Unexplained)
		}
	}
	if e2e != nil && r.Machine.CPUs > 0 {
		var total, pipeline float64
		for _, p := range e2e.Procs {
			total += p.CPUPerMillion
			if p.Process != harnessName {
				pipeline += p.CPUPerMillion
			}
		}
		if pipeline > 0 {
			fmt.Fprintf(&b, "- CPU budget end to end: loadgen, forwarder and collector together spent %.2f CPU s per 1M events (%.2f with the harness); "+
				"on %d CPUs that caps the pipeline at %s events/s if it had every cycle (%s with the harness's share).\n",
				pipeline, total, r.Machine.CPUs, numfmt.Thousands(float64(r.Machine.CPUs)*1e6/pipeline),
				numfmt.Thousands(float64(r.Machine.CPUs)*1e6/total))
		}
	}
	if e2e != nil && r.DiskBytesPerSec > 0 {
		var disk float64
		for _, p := range e2e.Procs {
			disk += p.DiskWritePerEvent
		}
		if disk > 0 {
			fmt.Fprintf(&b, "- Disk budget end to end: forwarder and collector sent %.0f bytes per event to storage (spool, WAL, output files), "+
				"every byte fsynced before it is acknowledged; the probe measured %.1f MB/s of fsynced writes on this machine, "+
				"which caps sustained throughput at %s events/s once the page cache stops absorbing the bursts.\n",
				disk, r.DiskBytesPerSec/1e6, numfmt.Thousands(r.DiskBytesPerSec/disk))
		}
	}
	if em != nil && dr != nil {
		slow, ratio := "the emitter hop", dr.EventsPerSec/em.EventsPerSec
		if dr.EventsPerSec < em.EventsPerSec {
			slow, ratio = "the forwarder-to-collector hop", em.EventsPerSec/dr.EventsPerSec
		}
		fmt.Fprintf(&b, "- Bottleneck: %s, %.2fx slower than the other hop alone.", slow, ratio)
		if e2e != nil {
			fmt.Fprintf(&b, " End to end runs at %.0f%% of the slower hop alone (both hops and loadgen share the CPUs).",
				100*e2e.EventsPerSec/min(em.EventsPerSec, dr.EventsPerSec))
		}
		b.WriteString("\n")
	}
	b.WriteString(`
How to read it:
- Each stage's interval: ` + intervals(r.Stages) + `
- The collector acknowledges a batch only once it is in its fsynced write-ahead log, and counts its
  events in readout_collector_events_accepted_total right after that fsync, so the end-to-end interval
  ends when the last event is durable in the collector. The harness polls that counter every 200 ms,
  then every 10 ms past 90% of the events (each scrape costs the collector a little CPU, charged to
  it). Bytes on the forwarder-to-collector hop come from a TCP relay that splices the connections in
  the kernel and only counts. The forwarder's received_bytes_total is scraped once, after the CPU
  readings.
- CPU is utime+stime of all threads (/proc/PID/stat; for loadgen, which has exited, from wait4's rusage);
  peak RSS is VmHWM (loadgen: ru_maxrss). CPU per 1M events divides by the stage's events.
- The emitter hop runs with the collector down, so the forwarder only ingests and spools (its failed
  ship attempts cost little). The forwarder-to-collector hop starts a fresh forwarder on that full spool:
  its CPU includes opening the spool.
- Disk writes are write_bytes from /proc/PID/io: bytes the process sent to the storage layer.
- The harness row is this benchmark's own process (the relay and the polling): CPU the measured pipeline
  did not get.
- 2 CPUs shared by loadgen, forwarder, collector and the harness: end to end, the processes compete, so
  events/s end to end is below either hop alone. CPU seconds per event are steadier than wall time on a
  busy machine; compare ratios.
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func intervals(st []Stage) string {
	var parts []string
	for _, s := range st {
		parts = append(parts, fmt.Sprintf("%s, from %s", s.Name, s.Interval))
	}
	return strings.Join(parts, "; ") + "."
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
