package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Sample is one result line of `go test -bench`: its iteration count and
// each value keyed by unit (ns/op, B/op, allocs/op, events/s, ...).
type Sample struct {
	Iterations int64
	Values     map[string]float64
}

// Benchmark is every sample of one benchmark name in one package.
type Benchmark struct {
	Name    string   // exactly as go test printed it, GOMAXPROCS suffix included
	Units   []string // in the order they first appeared
	Samples []Sample
}

// Package is the benchmarks of one package, in the order they ran.
type Package struct {
	Path       string
	CPU        string // the "cpu:" header go test printed, if any
	Benchmarks []*Benchmark
	Failed     bool // go test reported FAIL for the package
}

// Results are a whole `go test -bench` output, possibly of many packages.
type Results struct {
	Packages []*Package
	GoOS     string
	GoArch   string
}

// unknownPackage holds benchmark lines seen before any "pkg:" header.
const unknownPackage = "(unknown package)"

// Parse reads go test -bench output. Lines it does not recognise (test
// logs, PASS, ok) are skipped. A benchmark that printed output of its own
// may have its name and its numbers on different lines; the numbers are
// then given to the last name seen.
func Parse(r io.Reader) (*Results, error) {
	res := &Results{}
	byPath := map[string]*Package{}
	var cur *Package
	pending := "" // a benchmark name whose numbers have not come yet
	pkg := func(path string) *Package {
		if p, ok := byPath[path]; ok {
			return p
		}
		p := &Package{Path: path}
		byPath[path] = p
		res.Packages = append(res.Packages, p)
		return p
	}
	add := func(name string, s Sample, units []string) {
		if cur == nil {
			cur = pkg(unknownPackage)
		}
		var b *Benchmark
		for _, x := range cur.Benchmarks {
			if x.Name == name {
				b = x
				break
			}
		}
		if b == nil {
			b = &Benchmark{Name: name}
			cur.Benchmarks = append(cur.Benchmarks, b)
		}
		for _, u := range units {
			if !slices.Contains(b.Units, u) {
				b.Units = append(b.Units, u)
			}
		}
		b.Samples = append(b.Samples, s)
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			cur = pkg(strings.TrimSpace(strings.TrimPrefix(line, "pkg: ")))
			pending = ""
			continue
		case strings.HasPrefix(line, "cpu: "):
			if cur != nil {
				cur.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			}
			continue
		case strings.HasPrefix(line, "goos: "):
			res.GoOS = strings.TrimSpace(strings.TrimPrefix(line, "goos: "))
			continue
		case strings.HasPrefix(line, "goarch: "):
			res.GoArch = strings.TrimSpace(strings.TrimPrefix(line, "goarch: "))
			continue
		case strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "FAIL "):
			f := strings.Fields(line)
			if len(f) >= 2 {
				pkg(f[1]).Failed = true
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if isBenchName(f[0]) {
			s, units, ok := parseNumbers(f[1:])
			if ok {
				add(f[0], s, units)
				pending = ""
			} else {
				pending = f[0]
			}
			continue
		}
		if pending != "" {
			if s, units, ok := parseNumbers(f); ok {
				add(pending, s, units)
				pending = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return res, nil
}

// isBenchName reports whether s names a benchmark: "Benchmark" then
// nothing or a name that does not start with a lower-case letter, as go
// test requires.
func isBenchName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Benchmark")
	if !ok {
		return false
	}
	return rest == "" || !(rest[0] >= 'a' && rest[0] <= 'z')
}

// parseNumbers reads "N v1 unit1 v2 unit2 ...". ok is false unless the
// fields are exactly an iteration count and at least one value-unit pair.
func parseNumbers(f []string) (Sample, []string, bool) {
	if len(f) < 3 || len(f)%2 != 1 {
		return Sample{}, nil, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n <= 0 {
		return Sample{}, nil, false
	}
	s := Sample{Iterations: n, Values: make(map[string]float64, len(f)/2)}
	var units []string
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Sample{}, nil, false
		}
		u := f[i+1]
		if _, dup := s.Values[u]; !dup {
			units = append(units, u)
		}
		s.Values[u] = v
	}
	return s, units, true
}
