package forwarding

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{
		Date: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), Command: "go run ./bench/cmd/forwardbench --quick",
		Machine: Machine{CPUs: 2, CPUModel: "AMD EPYC", Kernel: "6.1", Go: "go1.26"}, Events: 1000, Conns: 4,
		Results: []Result{
			{Key: KeyReadoutNull, Setup: "readout forwarder", Process: "forwarder", Events: 1000, WallSeconds: 0.5, EventsPerSec: 2000,
				CPUSeconds: 0.001, CPUPerMillion: 1, PeakRSSMiB: 20, InBytesPerEvent: 268, OutBytesPerEvent: 140,
				IngestSeconds: 0.25, Receiver: &ReceiverUsage{Process: "collector", CPUPerMillion: 2, PeakRSSMiB: 30},
				Audit: &Audit{Emitters: 4, Sent: 1000, Received: 1000}},
			{Setup: "rsyslog, LinkedList", Process: "rsyslogd", Events: 1000, WallSeconds: 1, EventsPerSec: 1000,
				CPUPerMillion: 3, PeakRSSMiB: 10, InBytesPerEvent: 660, OutBytesPerEvent: 660},
			{Setup: "rsyslog, Disk", Process: "rsyslogd", Events: 1000, Error: "rsyslogd died | badly\nsecond line"},
		},
	}
}

func TestReportRatiosAndMarkdown(t *testing.T) {
	r := sampleReport()
	r.SetRatios()
	if got := r.Results[1].CPURatioVsReadout; got != 3 {
		t.Fatalf("unexpected ratio; got %v; want 3", got)
	}
	if got := r.Results[2].CPURatioVsReadout; got != 0 {
		t.Fatalf("a failed set-up got a ratio: %v", got)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| readout forwarder | 1000 | 0.50 | 2,000 | 1.00 | 1.0x | 20.0 | 268 | 140 |",
		"| rsyslog, LinkedList | 1000 | 1.00 | 1,000 | 3.00 | 3.0x | 10.0 | 660 | 660 |",
		"| rsyslog, Disk | 1000 | failed: rsyslogd died / badly second line |",
		"2 CPUs, AMD EPYC, Linux 6.1", "2026-11-27 04:00 UTC", "`go run ./bench/cmd/forwardbench --quick`",
		"collector, 2.00 CPU s per 1M events", "CPU ratios are against the readout forwarder.", "4,000 events/s at the emitter hop alone",
		"4 emitters, sent 1000, received 1000, duplicates 0, unexplained 0",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 3 || back.Results[1].CPURatioVsReadout != 3 {
		t.Fatalf("unexpected JSON round trip: %+v", back.Results)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -5000: "-5,000"} {
		if got := thousands(in); got != want {
			t.Fatalf("thousands(%v) = %q; want %q", in, got, want)
		}
	}
}

func TestRunReadoutWithoutBinaries(t *testing.T) {
	p, err := BuildPayloads(10, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := RunReadout(t.Context(), ReadoutConfig{Bin: t.TempDir(), Dir: t.TempDir(), Timeout: time.Second, Poll: time.Millisecond}, p)
	if !strings.Contains(res.Error, "forwarder binary missing") {
		t.Fatalf("unexpected error for missing binaries: %q", res.Error)
	}
}
