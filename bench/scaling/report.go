package scaling

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/bench/numfmt"
)

// Report is one run of the scaling curves.
type Report struct {
	Date    time.Time          `json:"date"`
	Command string             `json:"command"`
	Machine forwarding.Machine `json:"machine"`
	// Load averages (1, 5, 15 min) before and after the run.
	LoadBefore  string        `json:"load_average_before,omitempty"`
	LoadAfter   string        `json:"load_average_after,omitempty"`
	Connections []IngestPoint `json:"connections,omitempty"`
	EventSize   []IngestPoint `json:"event_size,omitempty"`
	Keys        []KeysPoint   `json:"keys,omitempty"`
}

// Failed reports whether any point failed.
func (r *Report) Failed() bool {
	for _, pts := range [][]IngestPoint{r.Connections, r.EventSize} {
		for _, p := range pts {
			if p.Error != "" {
				return true
			}
		}
	}
	for _, p := range r.Keys {
		if p.Error != "" {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Chart file names, in bench/results.
const (
	ChartConnections = "scaling-connections.svg"
	ChartKeys        = "scaling-keys.svg"
	ChartEventSize   = "scaling-event-size.svg"
)

// Charts returns a chart per curve that has at least one good point, by
// file name.
func (r *Report) Charts() map[string]Chart {
	out := map[string]Chart{}
	if s := ingestSeries(r.Connections, func(p IngestPoint) float64 { return float64(p.Conns) }); s != nil {
		out[ChartConnections] = Chart{Title: "Forwarder ingest into its spool against emitter connections",
			XLabel: "emitter connections", LogX: true, Series: []Series{s[0], s[2]}}
	}
	if s := ingestSeries(r.EventSize, func(p IngestPoint) float64 { return p.FrameBytes }); s != nil {
		out[ChartEventSize] = Chart{Title: "Forwarder ingest into its spool against event size",
			XLabel: "frame bytes per event", LogX: true, Series: []Series{s[0], s[1]}}
	}
	var eps, perKey Series
	eps = Series{Name: "decode + aggregate events/s", Unit: "events/s"}
	perKey = Series{Name: "heap bytes per key", Unit: "heap bytes per key", Right: true}
	for _, p := range r.Keys {
		if p.Error != "" {
			continue
		}
		eps.X, eps.Y = append(eps.X, float64(p.Keys)), append(eps.Y, p.EventsPerSec)
		perKey.X, perKey.Y = append(perKey.X, float64(p.Keys)), append(perKey.Y, p.HeapBytesPerKey)
	}
	if len(eps.X) > 0 {
		out[ChartKeys] = Chart{Title: "Collector decode + aggregate against active aggregation keys",
			XLabel: "active aggregation keys", LogX: true, Series: []Series{eps, perKey}}
	}
	return out
}

// ingestSeries returns events/s, MB/s and peak RSS against x, or nil when
// no point succeeded.
func ingestSeries(pts []IngestPoint, x func(IngestPoint) float64) []Series {
	s := []Series{
		{Name: "events/s", Unit: "events/s"},
		{Name: "MB/s of frames", Unit: "MB/s", Right: true},
		{Name: "forwarder peak RSS MiB", Unit: "peak RSS MiB", Right: true},
	}
	n := 0
	for _, p := range pts {
		if p.Error != "" {
			continue
		}
		n++
		for i, y := range []float64{p.EventsPerSec, p.MBPerSec, p.PeakRSSMiB} {
			s[i].X, s[i].Y = append(s[i].X, x(p)), append(s[i].Y, y)
		}
	}
	if n == 0 {
		return nil
	}
	return s
}

// WriteMarkdown writes a table per curve, with the charts' file names.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Scaling curves\n\n")
	fmt.Fprintf(&b, "%s. Machine: %d CPUs, %s, Linux %s, %s.\nRerun: `%s`\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.Go, r.Command)
	if r.LoadBefore != "" {
		fmt.Fprintf(&b, "Load average (1, 5, 15 min) before the run %s, after %s.\n", r.LoadBefore, r.LoadAfter)
	}
	if len(r.Connections) > 0 {
		b.WriteString("\n## Emitter connections: forwarder ingest into its spool\n\n")
		b.WriteString("The readout forwarder (real binary, collector down so that it only ingests) takes the same number of\n")
		b.WriteString("realistic events spread over N Unix socket connections, written all at once; measured until every\n")
		b.WriteString("connection's last event is acknowledged, that is durable (fsynced) in the spool.\n\n")
		fmt.Fprintf(&b, "![events/s against connections](%s)\n\n", ChartConnections)
		ingestTable(&b, r.Connections, "connections", func(p IngestPoint) string { return fmt.Sprint(p.Conns) })
		ratio(&b, r.Connections, func(p IngestPoint) string { return fmt.Sprintf("%d connections", p.Conns) })
	}
	if len(r.EventSize) > 0 {
		b.WriteString("\n## Event size: forwarder ingest into its spool\n\n")
		b.WriteString("As above over 4 connections, with each event resized by its model container id (random text, so\n")
		b.WriteString("that spool compression sees no repeats); the smallest row is the smallest inference event the schema\n")
		b.WriteString("allows. Larger sizes send fewer events (the same bytes budget).\n\n")
		fmt.Fprintf(&b, "![events/s against event size](%s)\n\n", ChartEventSize)
		ingestTable(&b, r.EventSize, "frame bytes", func(p IngestPoint) string { return fmt.Sprintf("%.0f", p.FrameBytes) })
		ratio(&b, r.EventSize, func(p IngestPoint) string { return fmt.Sprintf("%.0f-byte frames", p.FrameBytes) })
	}
	if len(r.Keys) > 0 {
		b.WriteString("\n## Active aggregation keys: collector decode + aggregate\n\n")
		fmt.Fprintf(&b, "In this process, with the collector's own packages (`wire.DecodeEvent`, then `window.Aggregator.Add`): %d\n", FillPerKey)
		b.WriteString("events per key first, untimed; heap per key is then the live heap after GC divided by the keys (counts,\n")
		b.WriteString("sums and four DDSketches per key). Then the timed events: frames in a random order cycling over every\n")
		b.WriteString("key. Each event gets durations drawn from 100 µs to 100 ms, so that sketches hold real spreads. The\n")
		b.WriteString("same number of timed events at every row, so the timed events per key differ between rows.\n\n")
		fmt.Fprintf(&b, "![events/s against keys](%s)\n\n", ChartKeys)
		b.WriteString("| keys | timed events | timed events per key | wall s | events/s | events per CPU s | heap bytes per key | heap MiB |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range r.Keys {
			if p.Error != "" {
				fmt.Fprintf(&b, "| %s | %s | | failed: %s | | | | |\n", numfmt.Thousands(float64(p.Keys)), numfmt.Thousands(float64(p.Events)), p.Error)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %.1f |\n", numfmt.Thousands(float64(p.Keys)), numfmt.Thousands(float64(p.Events)),
				numfmt.Num(float64(p.Events)/float64(p.Keys)), p.WallSeconds, numfmt.Thousands(p.EventsPerSec), numfmt.Thousands(p.EventsPerCPUSec), numfmt.Thousands(p.HeapBytesPerKey), p.HeapMiB)
		}
		var first, last *KeysPoint
		for i := range r.Keys {
			if r.Keys[i].Error == "" {
				if first == nil {
					first = &r.Keys[i]
				}
				last = &r.Keys[i]
			}
		}
		if first != nil && last != first {
			fmt.Fprintf(&b, "\nFrom %s to %s keys, events per CPU second change by %.2fx and heap per key by %.2fx.\n",
				numfmt.Thousands(float64(first.Keys)), numfmt.Thousands(float64(last.Keys)),
				last.EventsPerCPUSec/first.EventsPerCPUSec, last.HeapBytesPerKey/first.HeapBytesPerKey)
		}
	}
	b.WriteString("\nThe machine is shared and has 2 CPUs: the harness that writes the events runs beside the forwarder. CPU\n")
	b.WriteString("seconds per event and the ratios between rows are steadier than absolute events/s.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func ingestTable(b *strings.Builder, pts []IngestPoint, first string, key func(IngestPoint) string) {
	fmt.Fprintf(b, "| %s | events | wall s | events/s | MB/s | forwarder CPU s per 1M events | forwarder peak RSS MiB |\n", first)
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range pts {
		if p.Error != "" {
			fmt.Fprintf(b, "| %s | %s | failed: %s | | | | |\n", key(p), numfmt.Thousands(float64(p.Events)), oneLine(p.Error))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %.2f | %s | %.1f | %.2f | %.1f |\n", key(p), numfmt.Thousands(float64(p.Events)),
			p.WallSeconds, numfmt.Thousands(p.EventsPerSec), p.MBPerSec, p.CPUPerMillion, p.PeakRSSMiB)
	}
}

// ratio states the last good point against the first in CPU per event.
func ratio(b *strings.Builder, pts []IngestPoint, name func(IngestPoint) string) {
	var first, last *IngestPoint
	for i := range pts {
		if pts[i].Error == "" {
			if first == nil {
				first = &pts[i]
			}
			last = &pts[i]
		}
	}
	if first == nil || first == last || first.CPUPerMillion == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s against %s: %.2fx the forwarder CPU per event, %.2fx the events/s, %.2fx the peak RSS.\n",
		name(*last), name(*first), last.CPUPerMillion/first.CPUPerMillion, last.EventsPerSec/first.EventsPerSec, last.PeakRSSMiB/first.PeakRSSMiB)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
