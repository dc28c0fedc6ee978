package report

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/readout-dev/readout/wire"
)

// js encodes v as a JSON body.
func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// obj is a JSON object under construction; with returns a copy with
// members set, or removed when the value is del.
type obj map[string]any

var del = struct{}{}

func (o obj) with(kv ...any) obj {
	c := obj{}
	for k, v := range o {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == del {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

var instanceStateBody = obj{
	"active_time": 5.25, "boot_time": 0.5, "idle_time": 9.25, "metric_duration": 15.0,
	"utilization": 0.35, "mean_concurrency": 1.5,
	"deployment_key": "acme/flux-dev", "docker_image_uri": "r8.im/acme/flux-dev@sha256:9e0c1a",
	"hardware": "gpu-a100-large", "compute_unit": "gpu", "compute_unit_count": 2,
	"instance_id": "flux-dev-7f9c6d5b8-x2x4q", "version": "v42",
	"instance_metadata": map[string]string{"zone": "us-east-1a", "pod": "flux-dev-7f9c6d5b8-x2x4q", "namespace": "models"},
}

var setupRunBody = obj{
	"status": "ready", "scheduled_at": "2025-03-01T12:00:00Z", "started_at": "2025-03-01T12:00:05.25Z",
	"completed_at": "2025-03-01T13:01:10.5+01:00", "logs": "Downloading weights\nsetup done\n",
	"instance_metadata": map[string]string{"pod": "p-1", "namespace": "models"},
	"runtime_metadata":  map[string]string{"cog_version": "0.9.4", "pod_name": "p-1"},
	"deployment_key":    "acme/flux-dev", "instance_id": "p-1",
}

var downloadBody = obj{
	"url":  "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors?download=true",
	"size": 1000000, "bytes_per_second": 250000.0, "error": "", "instance_id": "p-1",
}

// checkEvent compares got with want after copying the fields the server
// draws itself (event id), and checks those.
func checkEvent(t *testing.T, h *harness, got, want wire.Event) {
	t.Helper()
	if got.ID == ([16]byte{}) || uuid.UUID(got.ID).Version() != 7 {
		t.Errorf("event id %x: want a UUIDv7", got.ID)
	}
	want.ID, want.EmitterID, want.Seq = got.ID, h.srv.EmitterID(), 1
	if !wire.Equal(&got, &want) {
		t.Errorf("unexpected event\n got %+v\nwant %+v", got, want)
	}
}

func TestInstanceState(t *testing.T) {
	h := newHarness(t, nil)
	before := time.Now().UnixNano()
	h.mustPost(PathInstanceState, js(t, instanceStateBody))
	after := time.Now().UnixNano()
	got := h.only()
	end := got.InstanceState.IntervalEndNs
	if end < before || end > after {
		t.Fatalf("intervalEndNs %d is not the receive time (between %d and %d)", end, before, after)
	}
	checkEvent(t, h, got, wire.Event{TimestampNs: end, Kind: wire.KindInstanceState, InstanceState: wire.InstanceState{
		IntervalStartNs: end - 15e9, IntervalEndNs: end,
		ActiveNs: 5.25e9, BootNs: 0.5e9, IdleNs: 9.25e9, ConcurrencyNs: 22.5e9,
		DeploymentKey: "acme/flux-dev", DockerImageURI: "r8.im/acme/flux-dev@sha256:9e0c1a", Hardware: "gpu-a100-large",
		ComputeUnit: "gpu", InstanceID: "flux-dev-7f9c6d5b8-x2x4q", Version: "v42", ComputeUnitCount: 2,
		InstanceMetadata: []wire.Label{{Key: "namespace", Value: "models"}, {Key: "pod", Value: "flux-dev-7f9c6d5b8-x2x4q"}, {Key: "zone", Value: "us-east-1a"}},
	}})
}

// TestInstanceStateTimes covers the rounding and the 1 ms rule: each time
// is rounded to whole nanoseconds, idle is what remains of the interval,
// and a sum more than 1 ms away from the interval is refused.
func TestInstanceStateTimes(t *testing.T) {
	tests := []struct {
		name                       string
		active, boot, idle, dur    float64
		meanConc                   float64
		wantCode                   int
		wantActive, wantBoot, want uint64 // want is idle
		wantConc                   uint64
	}{
		{"rounds each to nanoseconds", 0.0000000014, 0.0000000016, 9.999999997, 10, 0.25, 200, 1, 2, 9999999997, 2.5e9},
		{"mean concurrency rounds", 1, 0, 2, 3, 1.0 / 3, 200, 1e9, 0, 2e9, 1e9},
		{"exactly 1 ms over", 5, 0, 10.001, 15, 0, 200, 5e9, 0, 10e9, 0},
		{"exactly 1 ms under", 5, 0, 9.999, 15, 0, 200, 5e9, 0, 10e9, 0},
		{"more than 1 ms over", 5, 0, 10.0011, 15, 0, 400, 0, 0, 0, 0},
		{"more than 1 ms under", 5, 0, 9.9989, 15, 0, 400, 0, 0, 0, 0},
		{"active and boot over the interval come off active", 10.0005, 5, 0, 15, 2, 200, 10e9, 5e9, 0, 30e9},
		{"then off boot", 0.0002, 15.0007, 0, 15, 0, 200, 0, 15e9, 0, 0},
		{"empty interval", 0, 0, 0, 0, 0, 400, 0, 0, 0, 0},
		{"negative time", -1, 0, 16, 15, 0, 400, 0, 0, 0, 0},
		{"interval over a day", 0, 0, 86401, 86401, 0, 400, 0, 0, 0, 0},
		{"negative mean concurrency", 5, 0, 10, 15, -0.5, 400, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			code, msg := h.post(PathInstanceState, js(t, instanceStateBody.with("active_time", tt.active, "boot_time", tt.boot,
				"idle_time", tt.idle, "metric_duration", tt.dur, "mean_concurrency", tt.meanConc)))
			if code != tt.wantCode {
				t.Fatalf("got %d %q; want %d", code, msg, tt.wantCode)
			}
			evs, closed := h.spooled()
			if tt.wantCode != 200 {
				if len(evs) != 0 || closed != nil || strings.Count(msg, "\n") != 1 {
					t.Fatalf("refused report: spool holds %d events, closed %v; answer %q (want one line)", len(evs), closed, msg)
				}
				return
			}
			is := evs[0].InstanceState
			if is.ActiveNs != tt.wantActive || is.BootNs != tt.wantBoot || is.IdleNs != tt.want || is.ConcurrencyNs != tt.wantConc {
				t.Errorf("unexpected times; got active %d boot %d idle %d concurrency %d; want %d %d %d %d",
					is.ActiveNs, is.BootNs, is.IdleNs, is.ConcurrencyNs, tt.wantActive, tt.wantBoot, tt.want, tt.wantConc)
			}
			if span := uint64(is.IntervalEndNs - is.IntervalStartNs); span != uint64(tt.dur*1e9) || is.ActiveNs+is.BootNs+is.IdleNs != span {
				t.Errorf("interval %d ns, states add to %d; want %d", span, is.ActiveNs+is.BootNs+is.IdleNs, uint64(tt.dur*1e9))
			}
		})
	}
}

func TestSetupRun(t *testing.T) {
	h := newHarness(t, nil)
	h.mustPost(PathSetupRun, js(t, setupRunBody))
	ns := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	completed := ns("2025-03-01T12:01:10.5Z")
	checkEvent(t, h, h.only(), wire.Event{TimestampNs: completed, Kind: wire.KindSetupRun, SetupRun: wire.SetupRun{
		Status: wire.SetupReady, ScheduledAtNs: ns("2025-03-01T12:00:00Z"), StartedAtNs: ns("2025-03-01T12:00:05.25Z"),
		CompletedAtNs: completed, Logs: "Downloading weights\nsetup done\n", DeploymentKey: "acme/flux-dev", InstanceID: "p-1",
		InstanceMetadata: []wire.Label{{Key: "namespace", Value: "models"}, {Key: "pod", Value: "p-1"}},
		RuntimeMetadata:  []wire.Label{{Key: "cog_version", Value: "0.9.4"}, {Key: "pod_name", Value: "p-1"}},
	}})
}

func TestSetupRunFields(t *testing.T) {
	euro := "\u20ac" // three bytes
	tests := []struct {
		name        string
		body        obj
		wantStatus  wire.SetupStatus
		wantLogs    string
		wantDropped uint64
		wantSched   int64
	}{
		{"timeout", setupRunBody.with("status", "timeout"), wire.SetupTimeout, "Downloading weights\nsetup done\n", 0, 1740830400e9},
		{"failed", setupRunBody.with("status", "failed"), wire.SetupFailed, "Downloading weights\nsetup done\n", 0, 1740830400e9},
		{"a word the schema lacks is unknown", setupRunBody.with("status", "canceled"), wire.SetupUnknown, "Downloading weights\nsetup done\n", 0, 1740830400e9},
		{"no scheduled_at", setupRunBody.with("scheduled_at", del), wire.SetupReady, "Downloading weights\nsetup done\n", 0, 0},
		{"Go's zero time as scheduled_at", setupRunBody.with("scheduled_at", "0001-01-01T00:00:00Z"), wire.SetupReady, "Downloading weights\nsetup done\n", 0, 0},
		{"logs of exactly 20 KiB", setupRunBody.with("logs", strings.Repeat("a", 20480)), wire.SetupReady, strings.Repeat("a", 20480), 0, 1740830400e9},
		{"logs cut at a rune start", setupRunBody.with("logs", euro+strings.Repeat("b", 20480)), wire.SetupReady, strings.Repeat("b", 20480), 3, 1740830400e9},
		{"logs cut inside a rune skip it", setupRunBody.with("logs", strings.Repeat("x", 100)+euro+strings.Repeat("a", 20478)),
			wire.SetupReady, strings.Repeat("a", 20478), 103, 1740830400e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.mustPost(PathSetupRun, js(t, tt.body))
			sr := h.only().SetupRun
			wantUnmapped := 0.0
			if tt.name == "a word the schema lacks is unknown" {
				wantUnmapped = 1
			}
			if got := testutil.ToFloat64(h.srv.m.unmapped); got != wantUnmapped {
				t.Errorf("setup_status_unmapped_total %v; want %v", got, wantUnmapped)
			}
			if sr.Status != tt.wantStatus || sr.Logs != tt.wantLogs || sr.LogsDroppedBytes != tt.wantDropped || sr.ScheduledAtNs != tt.wantSched {
				t.Errorf("got status %v, %d log bytes, %d dropped, scheduled %d; want %v, %d, %d, %d",
					sr.Status, len(sr.Logs), sr.LogsDroppedBytes, sr.ScheduledAtNs, tt.wantStatus, len(tt.wantLogs), tt.wantDropped, tt.wantSched)
			}
		})
	}
}

func TestDownloadMetrics(t *testing.T) {
	h := newHarness(t, nil)
	before := time.Now().UnixNano()
	h.mustPost(PathDownloadMetrics, js(t, downloadBody))
	after := time.Now().UnixNano()
	got := h.only()
	if got.TimestampNs < before || got.TimestampNs > after {
		t.Fatalf("timestampNs %d is not the receive time", got.TimestampNs)
	}
	checkEvent(t, h, got, wire.Event{TimestampNs: got.TimestampNs, Kind: wire.KindDownload, Download: wire.Download{
		URL:  "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors",
		Host: "huggingface.co", SizeBytes: 1000000, DurationUs: 4000000, BytesPerSecond: 250000, InstanceID: "p-1",
	}})
}

func TestDownloadMetricsFields(t *testing.T) {
	gh := "https://github.com/replicate/pget/releases/download/v0.8.2/pget_linux_x86_64?raw=true"
	tests := []struct {
		name     string
		body     obj
		want     wire.Download
		wantCode int
	}{
		{"duration_seconds rounds to microseconds",
			downloadBody.with("duration_seconds", 3.1234567, "url", gh, "error", "connection reset by peer", "instance_id", del),
			wire.Download{URL: gh, Host: "github.com", SizeBytes: 1000000, DurationUs: 3123457, BytesPerSecond: 250000, Error: "connection reset by peer"}, 200},
		{"a zero rate without duration_seconds is 0",
			downloadBody.with("bytes_per_second", 0, "size", 0, "url", "https://EXAMPLE.com:8443/w.bin"),
			wire.Download{URL: "https://EXAMPLE.com:8443/w.bin", Host: "example.com:8443", InstanceID: "p-1"}, 200},
		{"size over rate rounds", downloadBody.with("size", 1, "bytes_per_second", 3.0),
			wire.Download{URL: "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors", Host: "huggingface.co",
				SizeBytes: 1, DurationUs: 333333, BytesPerSecond: 3, InstanceID: "p-1"}, 200},
		{"not a URL", downloadBody.with("url", "weights.bin"), wire.Download{}, 400},
		{"empty URL", downloadBody.with("url", ""), wire.Download{}, 400},
		{"negative size", downloadBody.with("size", -5), wire.Download{}, 400},
		{"fractional size", downloadBody.with("size", 1.5), wire.Download{}, 400},
		{"negative rate", downloadBody.with("bytes_per_second", -1), wire.Download{}, 400},
		{"negative duration", downloadBody.with("duration_seconds", -1), wire.Download{}, 400},
		{"missing error", downloadBody.with("error", del), wire.Download{}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			code, msg := h.post(PathDownloadMetrics, js(t, tt.body))
			if code != tt.wantCode {
				t.Fatalf("got %d %q; want %d", code, msg, tt.wantCode)
			}
			evs, _ := h.spooled()
			if code != 200 {
				if len(evs) != 0 {
					t.Fatalf("refused report left %d events in the spool", len(evs))
				}
				return
			}
			got := evs[0].Download
			if got != tt.want {
				t.Errorf("unexpected download\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestBadRequests: every refusal is a 400 (or 413) in one line of plain
// text, and leaves nothing in the spool.
func TestBadRequests(t *testing.T) {
	labels := map[string]string{}
	for i := range wire.MaxLabels + 1 {
		labels[fmt.Sprint("k", i)] = "v"
	}
	bigLabels := map[string]string{}
	for i := range 100 {
		bigLabels[fmt.Sprint("k", i)] = strings.Repeat("v", 1000)
	}
	tests := []struct {
		name, path, body string
		code             int
		want             string // in the answer
	}{
		{"not JSON", PathInstanceState, "{", 400, "bad JSON"},
		{"an array", PathSetupRun, "[]", 400, "want a JSON object"},
		{"null", PathDownloadMetrics, "null", 400, "want a JSON object"},
		{"trailing data", PathDownloadMetrics, js(t, downloadBody) + " x", 400, "bad JSON"},
		{"missing metric_duration", PathInstanceState, js(t, instanceStateBody.with("metric_duration", del)), 400, `"metric_duration" is required`},
		{"null active_time", PathInstanceState, js(t, instanceStateBody.with("active_time", nil)), 400, `"active_time" is required`},
		{"missing instance_metadata", PathInstanceState, js(t, instanceStateBody.with("instance_metadata", del)), 400, `"instance_metadata" is required`},
		{"missing version", PathInstanceState, js(t, instanceStateBody.with("version", del)), 400, `"version" is required`},
		{"time as a string", PathInstanceState, js(t, instanceStateBody.with("active_time", "5")), 400, `"active_time": want a number`},
		{"negative count", PathInstanceState, js(t, instanceStateBody.with("compute_unit_count", -1)), 400, `"compute_unit_count": want an integer`},
		{"fractional count", PathInstanceState, js(t, instanceStateBody.with("compute_unit_count", 1.5)), 400, `"compute_unit_count": want an integer`},
		{"metadata of numbers", PathInstanceState, js(t, instanceStateBody.with("instance_metadata", map[string]int{"k": 1})), 400, "object of strings"},
		{"too many labels", PathInstanceState, js(t, instanceStateBody.with("instance_metadata", labels)), 400, "at most 256"},
		{"missing status", PathSetupRun, js(t, setupRunBody.with("status", del)), 400, `"status" is required`},
		{"empty status", PathSetupRun, js(t, setupRunBody.with("status", "")), 400, `"status" is empty`},
		{"missing logs", PathSetupRun, js(t, setupRunBody.with("logs", del)), 400, `"logs" is required`},
		{"missing runtime_metadata", PathSetupRun, js(t, setupRunBody.with("runtime_metadata", del)), 400, `"runtime_metadata" is required`},
		{"time not RFC 3339", PathSetupRun, js(t, setupRunBody.with("started_at", "2025-03-01 12:00:05")), 400, "not an RFC 3339 time"},
		{"zero started_at", PathSetupRun, js(t, setupRunBody.with("started_at", "0001-01-01T00:00:00Z")), 400, "zero time"},
		{"completed before started", PathSetupRun, js(t, setupRunBody.with("completed_at", "2025-03-01T12:00:00Z")), 400, "before started_at"},
		{"missing url", PathDownloadMetrics, js(t, downloadBody.with("url", del)), 400, `"url" is required`},
		{"event over --max-message-size", PathInstanceState, js(t, instanceStateBody.with("instance_metadata", bigLabels)), 413, "--max-message-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			code, msg := h.post(tt.path, tt.body)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("got %d %q; want %d mentioning %q", code, msg, tt.code, tt.want)
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("answer %q is not one line", msg)
			}
			if evs, closed := h.spooled(); len(evs) != 0 || closed != nil {
				t.Errorf("refused report: spool holds %d events and closed %v; want none", len(evs), closed)
			}
		})
	}
}

// TestBodyLimit: a body of exactly 1 MiB is read (an unknown member pads
// a valid report), one byte more is a 413, with a Content-Length or
// chunked.
func TestBodyLimit(t *testing.T) {
	h := newHarness(t, nil)
	small := js(t, downloadBody)
	pad := MaxBodyBytes - len(small) - len(`,"pad":""`)
	exact := small[:len(small)-1] + `,"pad":"` + strings.Repeat("x", pad) + `"}`
	if len(exact) != MaxBodyBytes {
		t.Fatalf("test body is %d bytes; want %d", len(exact), MaxBodyBytes)
	}
	h.mustPost(PathDownloadMetrics, exact)
	over := exact[:len(exact)-1] + " }"
	if code, msg := h.post(PathDownloadMetrics, over); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB + 1 with Content-Length: got %d %q; want 413", code, msg)
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+PathDownloadMetrics, struct{ *strings.Reader }{strings.NewReader(over)})
	req.ContentLength = -1 // chunked: the limit is found while reading
	if code, msg := h.do(req); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB + 1 chunked: got %d %q; want 413", code, msg)
	}
	if evs, _ := h.spooled(); len(evs) != 1 {
		t.Fatalf("spool holds %d events; want the 1 MiB one only", len(evs))
	}
}

func TestMethodPathAndToken(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Token = "s3cret-token" })
	tests := []struct {
		name, method, path, auth string
		code                     int
	}{
		{"GET", http.MethodGet, PathInstanceState, "Bearer s3cret-token", 405},
		{"unknown path", http.MethodPost, "/v1/predictions", "Bearer s3cret-token", 404},
		{"the old pget path", http.MethodPost, "/metrics", "Bearer s3cret-token", 404},
		{"no token", http.MethodPost, PathDownloadMetrics, "", 401},
		{"wrong token", http.MethodPost, PathDownloadMetrics, "Bearer nope", 401},
		{"basic scheme", http.MethodPost, PathDownloadMetrics, "Basic s3cret-token", 401},
		{"scheme in any case", http.MethodPost, PathDownloadMetrics, "bearer s3cret-token", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.base+tt.path, strings.NewReader(js(t, downloadBody)))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("got %d; want %d", resp.StatusCode, tt.code)
			}
			if tt.code == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
			if tt.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	if evs, _ := h.spooled(); len(evs) != 1 {
		t.Fatalf("spool holds %d events; want 1", len(evs))
	}
}

// TestDurableBeforeAnswer: when the 200 arrives, the event is in the
// spool's segment file already (the forwarder answers only after the
// group commit's fsync).
func TestDurableBeforeAnswer(t *testing.T) {
	h := newHarness(t, nil)
	u := "https://weights.example.com/" + uuid.NewString() + ".bin"
	h.mustPost(PathDownloadMetrics, js(t, downloadBody.with("url", u)))
	if !segmentsHold(t, h.spoolDir, []byte(u)) {
		t.Fatal("answered 200 before the event was in a spool segment")
	}
}

// TestSeqsAndClosed: the report emitter numbers its events 1..n with no
// gap, refused reports take no seq, and Shutdown spools a closed message
// with n, so the audit finds nothing unexplained.
func TestSeqsAndClosed(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 12 {
		switch i % 4 {
		case 0:
			h.mustPost(PathInstanceState, js(t, instanceStateBody))
		case 1:
			h.mustPost(PathSetupRun, js(t, setupRunBody))
		case 2:
			h.mustPost(PathDownloadMetrics, js(t, downloadBody))
		case 3:
			if code, _ := h.post(PathDownloadMetrics, "{"); code != 400 {
				t.Fatalf("bad JSON: got %d; want 400", code)
			}
		}
	}
	evs, closed := h.spooled()
	seen := map[uint64]bool{}
	for _, ev := range evs {
		seen[ev.Seq] = true
	}
	if len(evs) != 9 || len(seen) != 9 {
		t.Fatalf("spool holds %d events with %d distinct seqs; want 9", len(evs), len(seen))
	}
	for s := uint64(1); s <= 9; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing; seqs must be 1..9", s)
		}
	}
	if closed == nil || closed.Seq != 9 || closed.DroppedTotal != 0 {
		t.Fatalf("closed message %+v; want seq 9, 0 dropped", closed)
	}
}

// TestForwarderDrainingFirst: once the forwarder drains, reports get 503
// with Retry-After and take no seq; the server then has nothing to close.
func TestForwarderDrainingFirst(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	if err := h.fwd.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+PathDownloadMetrics, strings.NewReader(js(t, downloadBody)))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if evs, closed := h.spooled(); len(evs) != 0 || closed != nil {
		t.Fatalf("spool holds %d events and closed %v; want none", len(evs), closed)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	s, err := New(c, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown without start: %v", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	s.Start() // after Shutdown: does nothing
}
