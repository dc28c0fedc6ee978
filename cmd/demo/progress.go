package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

// Metric families the live status reads from the daemons' /metrics.
const (
	forwarderReceived = "readout_forwarder_events_received_total"
	collectorAccepted = "readout_collector_events_accepted_total"
)

type sample struct {
	at        time.Time
	forwarded int64
	collected int64
}

// progress shows one live status line on a terminal and a plain line every
// two seconds otherwise, so logs of `make demo` stay readable.
type progress struct {
	out       io.Writer
	tty       bool
	want      int64
	last      sample
	lastPrint time.Time
}

func newProgress(out io.Writer, want int64) *progress {
	tty := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	return &progress{out: out, tty: tty, want: want, last: sample{at: now}}
}

func (p *progress) update(pl *pipeline.Pipeline) {
	s := sample{at: time.Now()}
	if v, ok := pipeline.Metric(pl.ForwarderMetrics, forwarderReceived); ok {
		s.forwarded = int64(v)
	}
	if v, ok := pipeline.Metric(pl.CollectorMetrics, collectorAccepted); ok {
		s.collected = int64(v)
	}
	rate := float64(s.forwarded-p.last.forwarded) / s.at.Sub(p.last.at).Seconds()
	p.last = s
	line := fmt.Sprintf("%s %5.1f%%  forwarder received %s  collector stored %s  %s events/s",
		bar(float64(s.forwarded)/float64(p.want), 24), 100*float64(s.forwarded)/float64(p.want),
		thousands(s.forwarded), thousands(s.collected), thousands(int64(rate)))
	switch {
	case p.tty:
		fmt.Fprintf(p.out, "\r\033[K%s", line)
	case s.at.Sub(p.lastPrint) >= 2*time.Second:
		fmt.Fprintln(p.out, line)
		p.lastPrint = s.at
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.out)
	}
}

func bar(frac float64, width int) string {
	if frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// thousands formats n with comma separators: 1234567 -> 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
