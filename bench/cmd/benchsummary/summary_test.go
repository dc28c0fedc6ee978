package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
)

var update = flag.Bool("update", false, "rewrite testdata/micro.md from the current output")

func parseFile(t *testing.T, path string) *Results {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseSample(t *testing.T) {
	r := parseFile(t, "testdata/micro.txt")
	if r.GoOS != "linux" || r.GoArch != "amd64" {
		t.Fatalf("unexpected platform; got %s/%s", r.GoOS, r.GoArch)
	}
	type want struct {
		pkg, name string
		samples   int
		unit      string
		median    float64
	}
	tests := []want{
		{"github.com/readout-dev/readout/wire", "BenchmarkAppendEvent-2", 3, "ns/op", 231.4},
		{"github.com/readout-dev/readout/wire", "BenchmarkDecodeEventJSON-2", 3, "allocs/op", 19},
		{"github.com/readout-dev/readout/forwarder", "BenchmarkIngest/spool-compression=s2-2", 2, "events/s", (605831 + 587512) / 2.0},
		// The second sample's numbers came on a later line, after a log line.
		{"github.com/readout-dev/readout/forwarder", "BenchmarkIngest/spool-compression=none-2", 2, "ns/op", 1600},
		{"github.com/readout-dev/readout/collector/window", "BenchmarkMemoryPerKey-2", 1, "bytes/key", 2180},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := find(r, tt.pkg, tt.name)
			if b == nil {
				t.Fatalf("no %s in %s", tt.name, tt.pkg)
			}
			if len(b.Samples) != tt.samples {
				t.Fatalf("unexpected sample count; got %d; want %d", len(b.Samples), tt.samples)
			}
			if got := b.Stats(tt.unit).Median; got != tt.median {
				t.Fatalf("unexpected median %s; got %v; want %v", tt.unit, got, tt.median)
			}
		})
	}
	var failed []string
	for _, p := range r.Packages {
		if p.Failed {
			failed = append(failed, p.Path)
		}
	}
	if len(failed) != 1 || failed[0] != "github.com/readout-dev/readout/collector/window" {
		t.Fatalf("unexpected failed packages; got %v", failed)
	}
	if got := r.Packages[1].Units(); strings.Join(got, " ") != "ns/op B/op allocs/op events/s spool-bytes/event" {
		t.Fatalf("unexpected unit order; got %v", got)
	}
}

func find(r *Results, pkg, name string) *Benchmark {
	for _, p := range r.Packages {
		if p.Path != pkg {
			continue
		}
		for _, b := range p.Benchmarks {
			if b.Name == name {
				return b
			}
		}
	}
	return nil
}

func TestParseIgnoresWhatIsNotAResult(t *testing.T) {
	in := strings.Join([]string{
		"BenchmarkX-2 \t 100 \t 5 ns/op", // before any pkg: line
		"Benchmarking is fun",            // lower case after Benchmark: not a benchmark
		"BenchmarkY-2 \t abc \t 5 ns/op", // no iteration count
		"BenchmarkZ-2 \t 10 \t 5",        // a value without a unit
		"    12 ns/op",                   // numbers with no name pending
	}, "\n")
	r, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Packages) != 1 || r.Packages[0].Path != unknownPackage {
		t.Fatalf("unexpected packages; got %+v", r.Packages)
	}
	if bs := r.Packages[0].Benchmarks; len(bs) != 1 || bs[0].Name != "BenchmarkX-2" {
		t.Fatalf("unexpected benchmarks; got %+v", bs)
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		name string
		vals []float64
		want Stat
	}{
		{"none", nil, Stat{}},
		{"one", []float64{4}, Stat{N: 1, Median: 4, Min: 4, Max: 4}},
		{"odd", []float64{9, 1, 5}, Stat{N: 3, Median: 5, Min: 1, Max: 9}},
		{"even", []float64{4, 1, 3, 10}, Stat{N: 4, Median: 3.5, Min: 1, Max: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Benchmark{Name: "BenchmarkA"}
			for _, v := range tt.vals {
				b.Samples = append(b.Samples, Sample{Iterations: 1, Values: map[string]float64{"ns/op": v}})
			}
			if got := b.Stats("ns/op"); got != tt.want {
				t.Fatalf("unexpected stats; got %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestMarkdownGolden compares the summary of the sample with
// testdata/micro.md; run with -update to rewrite it.
func TestMarkdownGolden(t *testing.T) {
	r := parseFile(t, "testdata/micro.txt")
	h := Header{Machine: forwarding.Machine{CPUs: 2, CPUModel: "AMD EPYC 7B13", Kernel: "6.1.0", Go: "go1.26.0"},
		Recorded: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), Input: "bench/results/micro.txt",
		Command: "go test -run '^$' -bench . -benchmem -count 3 ./..."}
	var got bytes.Buffer
	if err := WriteMarkdown(&got, h, r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "micro.md")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("summary differs from %s (go test -update rewrites it); got:\n%s", golden, got.String())
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("PASS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "res", "micro.md")
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"summarises the sample", []string{"--in", "testdata/micro.txt", "--out", out}, 0, ""},
		{"no results is an error", []string{"--in", empty, "--out", out}, 1, "no benchmark results"},
		{"missing input", []string{"--in", filepath.Join(dir, "nope.txt")}, 1, "no such file"},
		{"stray argument", []string{"extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var so, se bytes.Buffer
			if code := run(tt.args, &so, &se); code != tt.code {
				t.Fatalf("unexpected exit status; got %d; want %d (stderr: %s)", code, tt.code, se.String())
			}
			if !strings.Contains(se.String(), tt.inStderr) {
				t.Fatalf("stderr lacks %q: %s", tt.inStderr, se.String())
			}
		})
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## github.com/readout-dev/readout/forwarder", "| BenchmarkAppendEvent-2 | 3 | 231 (229–240) | 0 | 0 |"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Fatalf("summary lacks %q:\n%s", want, md)
		}
	}
}
