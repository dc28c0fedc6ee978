package forwarding

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	Rsyslog  string `json:"rsyslog_version,omitempty"`
	Go       string `json:"go_version"`
}

// Report is one run of the forwarding benchmark.
type Report struct {
	Date    time.Time `json:"date"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	Events  int       `json:"events"`
	Conns   int       `json:"connections"`
	Results []Result  `json:"results"`
	// RatioBase is the set-up the CPU ratios divide by.
	RatioBase string `json:"ratio_base,omitempty"`
}

// ThisMachine reads the CPU count, model and kernel from /proc.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Kernel: "unknown", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// SetRatios fills each result's CPU ratio against the readout forwarder's
// CPU per million events. The base is the forwarder shipping to the null
// receiver when that ran, as rsyslog ships to a sink that does nothing (like
// for like); otherwise the forwarder shipping to the collector.
func (r *Report) SetRatios() {
	var base float64
	r.RatioBase = ""
	for _, key := range []string{KeyReadoutNull, KeyReadout} {
		for _, res := range r.Results {
			if base == 0 && res.Key == key && res.Error == "" && res.CPUPerMillion > 0 {
				base, r.RatioBase = res.CPUPerMillion, res.Setup
			}
		}
	}
	for i := range r.Results {
		r.Results[i].CPURatioVsReadout = 0
		if base > 0 && r.Results[i].Error == "" {
			r.Results[i].CPURatioVsReadout = r.Results[i].CPUPerMillion / base
		}
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the report as a Markdown section with one table of
// the forwarding hop and one of the receiving side.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Forwarding hop: readout forwarder against rsyslog\n\n")
	fmt.Fprintf(&b, "%s, %d events over %d Unix stream connections, the same generated events for every set-up\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Events, r.Conns)
	fmt.Fprintf(&b, "(Cap'n Proto frames to readout, JSON lines to rsyslog). Machine: %d CPUs, %s, Linux %s, %s",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.Go)
	if r.Machine.Rsyslog != "" {
		fmt.Fprintf(&b, ", rsyslog %s", r.Machine.Rsyslog)
	}
	fmt.Fprintf(&b, ".\nRerun: `%s`\n\n", r.Command)
	if r.RatioBase != "" {
		fmt.Fprintf(&b, "CPU ratios are against the %s.\n\n", r.RatioBase)
	}
	b.WriteString("| set-up | events | wall s | events/s | forwarding CPU s per 1M events | CPU vs readout | peak RSS MiB | bytes/event in | bytes/event out |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(&b, "| %s | %d | failed: %s | | | | | | |\n", res.Setup, res.Events, oneLine(res.Error))
			continue
		}
		ratio := "n/a"
		if res.CPURatioVsReadout > 0 {
			ratio = fmt.Sprintf("%.1fx", res.CPURatioVsReadout)
		}
		out := "n/a"
		if res.OutBytesPerEvent > 0 {
			out = fmt.Sprintf("%.0f", res.OutBytesPerEvent)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %s | %.2f | %s | %.1f | %.0f | %s |\n", res.Setup, res.Events,
			res.WallSeconds, thousands(res.EventsPerSec), res.CPUPerMillion, ratio, res.PeakRSSMiB, res.InBytesPerEvent, out)
	}
	b.WriteString("\n")
	for _, res := range r.Results {
		if res.Error != "" {
			continue
		}
		if res.IngestSeconds > 0 {
			fmt.Fprintf(&b, "- %s: every event was durable in the forwarder's spool and acknowledged to its emitter after %.2f s: %s events/s at the emitter hop alone.\n",
				res.Setup, res.IngestSeconds, thousands(float64(res.Events)/res.IngestSeconds))
		}
		if rc := res.Receiver; rc != nil {
			fmt.Fprintf(&b, "- %s: receiving side, %s, %.2f CPU s per 1M events, peak RSS %.1f MiB.\n",
				res.Setup, rc.Process, rc.CPUPerMillion, rc.PeakRSSMiB)
		}
		if a := res.Audit; a != nil {
			fmt.Fprintf(&b, "- %s: `readout audit` afterwards: %d emitters, sent %d, received %d, duplicates %d, unexplained %d.\n",
				res.Setup, a.Emitters, a.Sent, a.Received, a.Duplicates, a.Unexplained)
		}
	}
	b.WriteString(`
How to read it:
- "wall s" runs from the first byte written to the forwarder until the receiver has every event (readout:
  the receiver's 2xx answer to the batch holding the last event has reached the forwarder, seen by an HTTP
  relay in the harness that counts the events of each distinct batch; rsyslog: the last line has reached a
  line-counting TCP sink in the harness). Nothing scrapes the daemons' metrics during a run.
- CPU is utime+stime of the forwarding process, all threads, from /proc/PID/stat over that interval.
  "CPU vs readout" divides each row's CPU per event by the readout forwarder's: above 1x, readout is
  cheaper. Peak RSS is VmHWM from /proc/PID/status.
- The harness (sender, relay, sink) runs on the same machine and competes for its CPUs: it slows wall time
  down, but its CPU is not charged to the processes measured.
- "bytes/event in" is what the emitter writes (a Cap'n Proto frame, or a JSON line); "out" is the
  forwarder's TCP payload to its receiver (for readout: HTTP requests, headers included).
- The null receiver answers every batch at once, as the line sink does for rsyslog: that pair is like for
  like. The collector row adds readout's real receiving side (WAL fsync, dedupe, aggregation).
- The readout forwarder fsyncs its spool before it acknowledges to the emitter; rsyslog's queues, at the
  defaults used here, do not fsync (queue.syncQueueFiles is off), so durability favours readout and cost
  favours rsyslog. rsyslog's configuration is in forwarding.json ("config").
- The machine may have been busy with other work during the run; CPU seconds are steadier than wall time.
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// thousands formats v rounded, with comma separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
