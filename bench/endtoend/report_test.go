package endtoend

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
)

func sampleReport() *Report {
	audit := &forwarding.Audit{Emitters: 4, Sent: 1000, Received: 1000}
	return &Report{Date: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC), Command: "go run ./bench/cmd/pipelinebench --events 1000",
		Machine: forwarding.Machine{CPUs: 2, CPUModel: "AMD EPYC", Kernel: "6.1", Go: "go1.26"}, Events: 1000, Emitters: 4,
		DiskBytesPerSec: 50e6,
		Stages: []Stage{
			{Key: StageEndToEnd, Name: "loadgen to forwarder to collector", Events: 1000, WallSeconds: 0.01, EventsPerSec: 100000,
				Procs: []Usage{{Process: "loadgen", CPUSeconds: 0.002, CPUPerMillion: 2}, {Process: "forwarder", CPUSeconds: 0.003, CPUPerMillion: 3, PeakRSSMiB: 40, DiskWritePerEvent: 100},
					{Process: "collector", DiskWritePerEvent: 150},
					{Process: harnessName, CPUPerMillion: 5}},
				InBytesPerEvent: 265, OutBytesPerEvent: 45.2, Audit: audit},
			{Key: StageEmitter, Name: "emitter hop", Events: 1000, WallSeconds: 0.004, EventsPerSec: 250000,
				Procs: []Usage{{Process: "forwarder", CPUPerMillion: 2.5}}},
			{Key: StageDrain, Name: "forwarder to collector hop", Events: 1000, WallSeconds: 0.008, EventsPerSec: 125000,
				Procs: []Usage{{Process: "collector", CPUPerMillion: 4}}, Audit: audit},
		}}
}

func TestWriteMarkdown(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| loadgen to forwarder to collector | 100,000 | 0.01 | loadgen | 0.00 | 2.00 | 0.0 |",
		"|  |  |  | forwarder | 0.00 | 3.00 | 40.0 | 100 |",
		"265 bytes per event from the emitters",
		"45.2 bytes per event from the forwarder",
		"sent 1000, received 1000, emitter drops 0, duplicates 0, unexplained 0",
		"Bottleneck: the forwarder-to-collector hop, 2.00x slower",
		"End to end runs at 80% of the slower hop alone",
		"Machine: 2 CPUs, AMD EPYC, Linux 6.1, go1.26",
		"as fast as it can",
		// 50 MB/s / 250 bytes per event.
		"sent 250 bytes per event to storage",
		"the probe measured 50.0 MB/s of fsynced writes on this machine, which caps sustained throughput at 200,000 events/s",
		// 2 CPUs / 5 s per 1M (10 with the harness).
		"together spent 5.00 CPU s per 1M events (10.00 with the harness); on 2 CPUs that caps the pipeline at 400,000 events/s if it had every cycle (200,000 with",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteMarkdownFailedStage(t *testing.T) {
	r := sampleReport()
	r.Rate = 500000
	r.Stages[2].Error = "collector died | badly\nlog"
	if !r.Failed() {
		t.Fatal("want Failed with a failed stage")
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"failed: collector died / badly log", "at 500,000 events/s"} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Bottleneck") {
		t.Fatalf("no bottleneck can be named with a failed hop:\n%s", md)
	}
}

func TestWriteJSONKeys(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	st := m["stages"].([]any)[0].(map[string]any)
	for _, k := range []string{"events_per_second", "processes", "emitter_to_forwarder_bytes_per_event", "forwarder_to_collector_bytes_per_event", "audit"} {
		if _, ok := st[k]; !ok {
			t.Fatalf("stage JSON lacks %q: %v", k, st)
		}
	}
	if _, ok := m["machine"].(map[string]any)["cpu_model"]; !ok {
		t.Fatalf("report JSON lacks the machine: %v", m)
	}
}
