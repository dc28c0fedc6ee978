package report

import (
	"testing"

	"github.com/readout-dev/readout/wire"
)

// FuzzReports feeds arbitrary bodies to each endpoint's conversion: it
// never panics, a refusal is a 4xx with a one-line reason, and whatever it
// accepts encodes to an event the collector's decoder accepts.
func FuzzReports(f *testing.F) {
	seeds := []string{
		`{"active_time": 5.0, "boot_time": 0, "idle_time": 10.0, "metric_duration": 15.0, "utilization": 0.33,
		  "mean_concurrency": 0.5, "deployment_key": "d", "docker_image_uri": "i", "hardware": "h", "compute_unit": "gpu",
		  "compute_unit_count": 1, "instance_id": "x", "instance_metadata": {"k": "v"}, "version": "v"}`,
		`{"status": "ready", "started_at": "2026-12-04T18:00:00Z", "completed_at": "2026-12-04T18:00:30.5Z",
		  "logs": "ok\n", "instance_metadata": {}, "runtime_metadata": {"cog": "0.14"}, "scheduled_at": "2026-12-04T17:59:58Z"}`,
		`{"url": "https://huggingface.co/a/b/resolve/main/w?download=true", "size": 10, "bytes_per_second": 2.5,
		  "error": "", "duration_seconds": 4, "instance_id": "x"}`,
		`{}`, `null`, `[]`, `{"metric_duration": 1e308}`, `{"url": "::"}`,
	}
	for _, s := range seeds {
		for kind := uint8(0); kind < 3; kind++ {
			f.Add(kind, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		fs, rerr := parseObject(body)
		var ev wire.Event
		if rerr == nil {
			switch kind % 3 {
			case 0:
				ev, rerr = instanceState(fs, 1_800_000_000_000_000_000)
			case 1:
				ev, _, rerr = setupRun(fs)
			case 2:
				ev, rerr = download(fs, 1_800_000_000_000_000_000)
			}
		}
		if rerr != nil {
			if rerr.code < 400 || rerr.code > 499 || len(rerr.msg) == 0 {
				t.Fatalf("refusal %d %q", rerr.code, rerr.msg)
			}
			for _, c := range rerr.msg {
				if c == '\n' {
					t.Fatalf("reason of more than one line: %q", rerr.msg)
				}
			}
			return
		}
		frame := wire.AppendEvent(nil, &ev)
		var back wire.Event
		if err := wire.DecodeEvent(frame, &back); err != nil {
			// The server would refuse it (400 invalid_event) before the
			// spool, but then the conversion let through what it should
			// have named: a bug in the conversion's own checks.
			t.Fatalf("accepted body made an invalid event: %v\n%+v", err, ev)
		}
	})
}
