package soak

import (
	"math"
	"os"
	"testing"
)

// TestLeakCriterion checks the growth test on synthetic runs: what a
// healthy process looks like must pass, what a leak looks like must fail.
func TestLeakCriterion(t *testing.T) {
	const mib = 1 << 20
	gen := func(n int, f func(i int) float64) series {
		s := make(series, n)
		for i := range s {
			s[i] = f(i)
		}
		return s
	}
	sawtooth := func(i int) float64 { return 100*mib + float64(i%7)*8*mib } // GC cycles, 100-148 MiB
	tests := []struct {
		name string
		s    series
		b    bound
		want bool
	}{
		{"flat", gen(600, func(int) float64 { return 50 * mib }), rssBound, false},
		{"gc sawtooth", gen(600, sawtooth), rssBound, false},
		{"warm-up then plateau", gen(600, func(i int) float64 { return math.Min(float64(i), 40) * 4 * mib }), rssBound, false},
		{"one-minute run warming up for 30 s", gen(60, func(i int) float64 { return math.Min(float64(i), 30) * 4 * mib }), rssBound, false},
		{"linear leak", gen(600, func(i int) float64 { return 100*mib + float64(i)*0.2*mib }), rssBound, true},
		{"leak under a sawtooth", gen(600, func(i int) float64 { return sawtooth(i) + float64(i)*0.2*mib }), rssBound, true},
		{"steady fds", gen(600, func(i int) float64 { return 20 + float64(i%3) }), fdBound, false},
		{"fd leak, one a minute", gen(600, func(i int) float64 { return 20 + float64(i/60)*4 }), fdBound, true},
		{"goroutines steady", gen(600, func(i int) float64 { return 27 + float64(i%2) }), goroutineBound, false},
		{"goroutine leak", gen(600, func(i int) float64 { return 27 + float64(i)/10 }), goroutineBound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how := tt.s.grows(tt.b)
			if got != tt.want {
				t.Fatalf("unexpected verdict; got grows=%v; want %v (%s)", got, tt.want, how)
			}
		})
	}
}

func TestProcReaders(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	rss, err := rssBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Fatalf("unexpected RSS; got %d bytes; want at least 1 MiB for a Go test binary", rss)
	}
	n, err := openFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := openFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m != n+1 {
		t.Fatalf("unexpected fd count after one open; got %d; want %d", m, n+1)
	}
	if _, err := rssBytes(-1); err == nil {
		t.Fatal("rssBytes(-1): want an error")
	}
}
