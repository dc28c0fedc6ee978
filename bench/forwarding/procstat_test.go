package forwarding

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name  string
		stat  string
		ticks int64
		want  time.Duration
	}{
		{"plain", "1234 (forwarder) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 9", 100, 2 * time.Second},
		{"name with spaces and parens", "77 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 3 1 0 0", 100, 40 * time.Millisecond},
		{"other tick rate", "9 (x) S 1 2 3 4 5 6 7 8 9 10 250 250 0", 250, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat), tt.ticks)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("unexpected cpu; got %v; want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStatCPU([]byte(bad), 100); err == nil {
			t.Fatalf("parseStatCPU(%q) accepted a malformed line", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tforwarder\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n"
	got, err := parseStatusKB([]byte(status), "VmHWM:")
	if err != nil {
		t.Fatal(err)
	}
	if got != 2048<<10 {
		t.Fatalf("unexpected VmHWM; got %d; want %d", got, 2048<<10)
	}
	if _, err := parseStatusKB([]byte("Name:\tx\n"), "VmHWM:"); err == nil {
		t.Fatal("a status without VmHWM was accepted")
	}
}

func TestReadUsageOfThisProcess(t *testing.T) {
	// Burn a little CPU so the tick counter has moved.
	deadline := time.Now().Add(30 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU <= 0 || u.PeakRSS <= 0 {
		t.Fatalf("unexpected usage of a live process: %+v (spun %d times)", u, x)
	}
}
