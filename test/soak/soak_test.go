// Package soak runs the pipeline at a steady rate for a long time and
// fails when a process's memory, open files or goroutines grow without
// bound. It is not part of `make test`: it runs only with READOUT_SOAK=1
// (`make soak`), for READOUT_SOAK_DURATION (default 10m).
package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
	"github.com/readout-dev/readout/test/fault"
)

var binDir string

func TestMain(m *testing.M) {
	if os.Getenv("READOUT_SOAK") == "1" {
		dir, err := fault.BuildBinaries()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binDir = dir
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const (
	soakRate     = 20000
	soakEmitters = 4
)

// Leak bounds: how far the last window may rise above the middle one (see
// series.windows). RSS gets 25% plus 8 MiB: the collector's heap swings by
// half between collections, and a small process by a few MiB.
var (
	rssBound       = bound{ratio: 0.25, abs: 8 << 20}
	fdBound        = bound{abs: 16}
	goroutineBound = bound{ratio: 0.25, abs: 16}
)

// proc is one sampled process.
type proc struct {
	name       string
	pid        int
	metrics    string // HOST:PORT of its /metrics, empty for loadgen
	rss, fds   series
	goroutines series
	heap       series // Go heap in use, to tell a leak from a lazy scavenger
}

func (p *proc) sample() error {
	rss, err := rssBytes(p.pid)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	fds, err := openFDs(p.pid)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.rss = append(p.rss, float64(rss))
	p.fds = append(p.fds, float64(fds))
	if p.metrics != "" {
		g, ok := pipeline.Metric(p.metrics, "go_goroutines")
		if !ok {
			return fmt.Errorf("%s: go_goroutines missing from http://%s/metrics", p.name, p.metrics)
		}
		p.goroutines = append(p.goroutines, g)
		h, ok := pipeline.Metric(p.metrics, "go_memstats_heap_inuse_bytes")
		if !ok {
			return fmt.Errorf("%s: go_memstats_heap_inuse_bytes missing from http://%s/metrics", p.name, p.metrics)
		}
		p.heap = append(p.heap, h)
	}
	return nil
}

// TestSoak sends soakRate events/s through a forwarder and a collector for
// READOUT_SOAK_DURATION, samples each process's RSS and open fds (and the
// daemons' goroutines) every second, prints a summary table, fails on
// growth past the bounds above, and finally checks that the output equals
// loadgen's truth with nothing unexplained.
func TestSoak(t *testing.T) {
	if os.Getenv("READOUT_SOAK") != "1" {
		t.Skip("set READOUT_SOAK=1 to run the soak test (make soak)")
	}
	duration := 10 * time.Minute
	if s := os.Getenv("READOUT_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute {
			t.Fatalf("READOUT_SOAK_DURATION=%q: want a duration of at least 1m", s)
		}
		duration = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()

	p, err := pipeline.New(binDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Short windows put the collector into its steady state (windows
	// opened, filled, written and freed) within seconds rather than the
	// default 1m window plus 2m lateness, so the leak check compares steady
	// states even in a one-minute run, and a ten-minute run turns its
	// windows over sixty times. Late events (1%, minutes old) still arrive
	// and become partial rows of written windows.
	p.Window = "10s"
	p.CollectorFlags = []string{"--allowed-lateness", "10s"}
	t.Cleanup(func() {
		p.KillAll()
		if t.Failed() {
			for _, pr := range []*pipeline.Process{p.Forwarder, p.Collector} {
				if pr != nil {
					t.Logf("%s log tail:\n%s", pr.Name, pr.Tail(3000))
				}
			}
		}
	})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	events := int(duration.Seconds() * soakRate)
	fleet, err := fault.StartFleet(p, "fleet", "--events", strconv.Itoa(events), "--rate", strconv.Itoa(soakRate),
		"--emitters", strconv.Itoa(soakEmitters), "--seed", "23", "--wait=true", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Kill)

	procs := []*proc{
		{name: "forwarder", pid: p.Forwarder.Pid(), metrics: p.ForwarderMetrics},
		{name: "collector", pid: p.Collector.Pid(), metrics: p.CollectorMetrics},
		{name: "loadgen", pid: fleet.Pid()},
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.Now().Add(duration)
sampling:
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
		if !fleet.Alive() {
			break sampling // it sent everything; what follows is its Close
		}
		for _, pr := range procs {
			if err := pr.sample(); err != nil {
				if !fleet.Alive() {
					break sampling
				}
				t.Fatalf("sample: %v", err)
			}
		}
	}
	if err := fleet.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatalf("drain: %v", err)
	}

	if err := writeSamples(filepath.Join(p.Dir, "samples.csv"), procs); err != nil {
		t.Error(err)
	}
	if out := os.Getenv("READOUT_SOAK_CSV"); out != "" {
		if err := writeSamples(out, procs); err != nil {
			t.Error(err)
		}
	}
	table, leaks := summarize(procs)
	header := fmt.Sprintf("soak: %s at %d events/s, %d samples per process", duration, soakRate, len(procs[0].rss))
	// Printed, not logged, so that it shows once with -v (make soak).
	fmt.Println(header)
	fmt.Print(table)
	for _, l := range leaks {
		t.Error(l)
	}
	if len(procs[0].rss) < 50 {
		t.Fatalf("only %d samples: loadgen ended after %s, too early to judge growth", len(procs[0].rss), fleet.Elapsed())
	}

	tr, err := truth.Read(fleet.Truth)
	if err != nil {
		t.Fatal(err)
	}
	rep, errs := fault.Check(ctx, p, tr)
	for _, err := range errs {
		t.Error(err)
	}
	if tr.Total.Requests != uint64(events) {
		t.Errorf("loadgen sent %d of %d events (it waits instead of dropping)", tr.Total.Requests, events)
	}
	status := "PASS"
	if t.Failed() {
		status = "FAIL"
	}
	line := fmt.Sprintf("soak: %s duration=%s events=%d received=%d unexplained=%d duplicates_dropped=%d",
		status, duration, rep.Emitted, rep.Received, rep.Unexplained, rep.Duplicates)
	t.Log(line)
	fmt.Println(line)
}

// summarize prints one row per process and lists every measure that grew
// past its bound.
func summarize(procs []*proc) (string, []string) {
	var b strings.Builder
	var leaks []string
	fmt.Fprintf(&b, "%-10s %9s %9s %9s %9s %6s %6s %6s %8s %8s %8s\n", "process",
		"rss_first", "rss_mid", "rss_last", "rss_max", "fd_mid", "fd_last", "fd_max", "gor_mid", "gor_last", "gor_end")
	mib := func(v float64) string { return fmt.Sprintf("%.1fM", v/(1<<20)) }
	for _, p := range procs {
		if len(p.rss) == 0 {
			continue
		}
		rssMid, rssLast := p.rss.windows()
		fdMid, fdLast := p.fds.windows()
		gMid, gLast, gEnd := "-", "-", "-"
		if len(p.goroutines) > 0 {
			m, l := p.goroutines.windows()
			gMid, gLast = fmt.Sprintf("%.0f", m), fmt.Sprintf("%.0f", l)
			gEnd = fmt.Sprintf("%.0f", p.goroutines[len(p.goroutines)-1])
		}
		fmt.Fprintf(&b, "%-10s %9s %9s %9s %9s %6.0f %6.0f %6.0f %8s %8s %8s\n", p.name,
			mib(p.rss[0]), mib(rssMid), mib(rssLast), mib(p.rss.max()), fdMid, fdLast, p.fds.max(), gMid, gLast, gEnd)
		checks := []struct {
			what string
			s    series
			b    bound
		}{{"RSS bytes", p.rss, rssBound}, {"open fds", p.fds, fdBound}, {"goroutines", p.goroutines, goroutineBound}}
		for _, c := range checks {
			if len(c.s) == 0 {
				continue
			}
			if grew, how := c.s.grows(c.b); grew {
				leaks = append(leaks, fmt.Sprintf("%s: %s grew without bound: %s", p.name, c.what, how))
			}
		}
	}
	return b.String(), leaks
}

// writeSamples writes every sample as CSV: second, process, rss, fds,
// goroutines, heap (the last two empty for loadgen).
func writeSamples(path string, procs []*proc) error {
	var b strings.Builder
	b.WriteString("second,process,rss_bytes,fds,goroutines,heap_inuse_bytes\n")
	for _, p := range procs {
		for i := range p.rss {
			g, h := "", ""
			if i < len(p.goroutines) {
				g, h = fmt.Sprintf("%.0f", p.goroutines[i]), fmt.Sprintf("%.0f", p.heap[i])
			}
			fmt.Fprintf(&b, "%d,%s,%.0f,%.0f,%s,%s\n", i+1, p.name, p.rss[i], p.fds[i], g, h)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	return nil
}
