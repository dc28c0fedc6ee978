package soak

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// rssBytes reads a process's resident set size from /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("pid %d: odd VmRSS line %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: VmRSS: %w", pid, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no VmRSS in /proc status", pid)
}

// openFDs counts a process's open file descriptors.
func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// series is one measure of one process, sampled once a second.
type series []float64

func (s series) mean(from, to int) float64 {
	if to <= from {
		return 0
	}
	var sum float64
	for _, v := range s[from:to] {
		sum += v
	}
	return sum / float64(to-from)
}

func (s series) max() float64 {
	var m float64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// warmupSamples is the least of a run treated as warm-up: the collector's
// memory climbs for its first half minute or so (windows fill, sketches
// and buffers reach their working size) before it levels off.
const warmupSamples = 30

// windows returns the mean of the first quarter after the warm-up (the
// warm-up is the first 20% of the samples, or warmupSamples if more) and
// the mean of the last quarter after it; for a 10-minute run, the 2-4 and
// 8-10 minute windows. Comparing window means rather than single samples
// keeps the garbage collector's sawtooth and a burst of connections from
// looking like growth, while a leak, which only ever adds, shows as a last
// window well above the earlier one.
func (s series) windows() (mid, last float64) {
	n := len(s)
	w := min(max(n/5, warmupSamples), n/2)
	q := (n - w) / 4
	return s.mean(w, w+q), s.mean(n-q, n)
}

// bound is how far the last window may rise above the middle one.
type bound struct {
	ratio float64 // relative slack
	abs   float64 // absolute slack, for small values
}

// grows reports whether s grew beyond b, and by how much.
func (s series) grows(b bound) (bool, string) {
	mid, last := s.windows()
	limit := mid*(1+b.ratio) + b.abs
	return last > limit, fmt.Sprintf("mid %.1f, last %.1f, limit %.1f", mid, last, limit)
}
