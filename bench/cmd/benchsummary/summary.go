package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/bench/numfmt"
)

// Stat summarises the samples of one unit.
type Stat struct {
	N                int
	Median, Min, Max float64
}

// Stats computes the median, min and max of unit over b's samples; samples
// without that unit are left out.
func (b *Benchmark) Stats(unit string) Stat {
	var vs []float64
	for _, s := range b.Samples {
		if v, ok := s.Values[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return Stat{}
	}
	slices.Sort(vs)
	st := Stat{N: len(vs), Min: vs[0], Max: vs[len(vs)-1]}
	if m := len(vs) / 2; len(vs)%2 == 1 {
		st.Median = vs[m]
	} else {
		st.Median = (vs[m-1] + vs[m]) / 2
	}
	return st
}

// standardUnits come first in every table, in this order.
var standardUnits = []string{"ns/op", "B/op", "allocs/op"}

// Units are the columns of p's table: the standard ones it has, then the
// custom metrics in the order they first appeared.
func (p *Package) Units() []string {
	var all []string
	for _, b := range p.Benchmarks {
		for _, u := range b.Units {
			if !slices.Contains(all, u) {
				all = append(all, u)
			}
		}
	}
	var out []string
	for _, u := range standardUnits {
		if slices.Contains(all, u) {
			out = append(out, u)
		}
	}
	for _, u := range all {
		if !slices.Contains(standardUnits, u) {
			out = append(out, u)
		}
	}
	return out
}

// Header says where and when the benchmarks ran and how to rerun them.
type Header struct {
	Machine  forwarding.Machine
	Recorded time.Time // when the input file was written
	Input    string    // the input file's path, as given
	Command  string    // the command that produced the input; may be empty
}

// WriteMarkdown writes one table per package: per benchmark, the sample
// count and, for every unit, the median with the spread (min–max) when the
// samples differ.
func WriteMarkdown(w io.Writer, h Header, r *Results) error {
	var b strings.Builder
	b.WriteString("# Micro benchmarks\n\n")
	m := h.Machine
	fmt.Fprintf(&b, "Recorded %s on %d CPUs, %s, Linux %s, %s", h.Recorded.UTC().Format("2006-01-02 15:04 MST"),
		m.CPUs, m.CPUModel, m.Kernel, m.Go)
	if r.GoOS != "" {
		fmt.Fprintf(&b, " (%s/%s)", r.GoOS, r.GoArch)
	}
	fmt.Fprintf(&b, ". Summary of `%s`", h.Input)
	if h.Command != "" {
		fmt.Fprintf(&b, ", made by `%s`", h.Command)
	}
	b.WriteString("; compare two such files with `benchstat old.txt new.txt`.\n\n")
	b.WriteString("Each cell is the median over the samples (n), with the range (min–max) when the samples differ.\n")
	b.WriteString("The machine is shared: medians are steadier than any one sample, and ratios between rows steadier still.\n")
	total := 0
	for _, p := range r.Packages {
		total += len(p.Benchmarks)
	}
	if total == 0 {
		b.WriteString("\nNo benchmark results found in the input.\n")
	}
	for _, p := range r.Packages {
		if len(p.Benchmarks) == 0 && !p.Failed {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", p.Path)
		if p.Failed {
			b.WriteString("**go test reported FAIL for this package**; its results below may be incomplete.\n\n")
		}
		if len(p.Benchmarks) == 0 {
			continue
		}
		units := p.Units()
		b.WriteString("| benchmark | n |")
		for _, u := range units {
			fmt.Fprintf(&b, " %s |", u)
		}
		b.WriteString("\n|---|---:|")
		for range units {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, bm := range p.Benchmarks {
			fmt.Fprintf(&b, "| %s | %d |", bm.Name, len(bm.Samples))
			for _, u := range units {
				fmt.Fprintf(&b, " %s |", cell(bm.Stats(u)))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell formats a Stat: empty when the benchmark lacks the unit.
func cell(s Stat) string {
	if s.N == 0 {
		return ""
	}
	med := numfmt.Num(s.Median)
	lo, hi := numfmt.Num(s.Min), numfmt.Num(s.Max)
	if s.N == 1 || lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}
