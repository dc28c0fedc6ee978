package report

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/readout-dev/readout/wire"
)

// The three bodies and the events they become. Each conversion reads every
// field, then checks the values together; nowNs is when the body was
// received (Unix ns). docs/report-ingest.md is the user's side of this file.

const (
	// maxIntervalSeconds bounds metric_duration, and so each state's time:
	// a report covers at most a day (the Director's interval is 15 s).
	maxIntervalSeconds = 86400
	// sumTolerance is how far active+boot+idle may be from the interval.
	sumTolerance = int64(time.Millisecond)
	// maxLogBytes is how much of a setup's logs an event keeps: the last
	// 20 KiB, as the Director keeps for its spans.
	maxLogBytes = 20 << 10
)

// instanceState converts the Director's Metrics JSON. The interval ends
// when the report arrives and lasts metric_duration; each time is rounded
// to whole nanoseconds, and idle is what remains of the interval after
// active and boot, so that the three add up to it exactly.
func instanceState(f *fields, nowNs int64) (wire.Event, *reqError) {
	active, _ := f.seconds("active_time", true, maxIntervalSeconds)
	boot, _ := f.seconds("boot_time", true, maxIntervalSeconds)
	idle, _ := f.seconds("idle_time", true, maxIntervalSeconds)
	dur, _ := f.seconds("metric_duration", true, maxIntervalSeconds)
	f.number("utilization", true) // derived from the integrals downstream; checked, not kept
	meanConc, _ := f.number("mean_concurrency", true)
	v := wire.InstanceState{
		DeploymentKey:    f.str("deployment_key", true),
		DockerImageURI:   f.str("docker_image_uri", true),
		Hardware:         f.str("hardware", true),
		ComputeUnit:      f.str("compute_unit", true),
		ComputeUnitCount: f.uint32("compute_unit_count", true),
		InstanceID:       f.str("instance_id", true),
		InstanceMetadata: f.labels("instance_metadata", true),
		Version:          f.str("version", true),
	}
	if f.err != nil {
		return wire.Event{}, f.err
	}
	// All four are at most a day, so in nanoseconds they fit an int64
	// many times over.
	durNs, activeNs, bootNs, idleNs := toNs(dur), toNs(active), toNs(boot), toNs(idle)
	if durNs <= 0 {
		return wire.Event{}, badValue("field \"metric_duration\": %v seconds is not a positive interval", dur)
	}
	if d := activeNs + bootNs + idleNs - durNs; d > sumTolerance || d < -sumTolerance {
		return wire.Event{}, badValue("active_time + boot_time + idle_time = %v s is more than 1 ms from metric_duration %v s",
			float64(activeNs+bootNs+idleNs)/1e9, dur)
	}
	// Within the tolerance active+boot may exceed the interval by up to
	// 1 ms (idle then being 0): the excess comes off active, then boot.
	if over := activeNs + bootNs - durNs; over > 0 {
		cut := min(over, activeNs)
		activeNs -= cut
		bootNs -= over - cut
	}
	if meanConc < 0 {
		return wire.Event{}, badValue("field \"mean_concurrency\": %v is negative", meanConc)
	}
	// The JSON carries the mean, not the integral: the integral is the
	// mean times the interval, rounded to whole nanoseconds.
	conc, ok := roundScaled(meanConc, float64(durNs))
	if !ok {
		return wire.Event{}, badValue("field \"mean_concurrency\": %v over %v s does not fit", meanConc, dur)
	}
	v.IntervalEndNs = nowNs
	v.IntervalStartNs = nowNs - durNs
	v.ActiveNs, v.BootNs, v.IdleNs = uint64(activeNs), uint64(bootNs), uint64(durNs-activeNs-bootNs)
	v.ConcurrencyNs = conc
	return wire.Event{TimestampNs: v.IntervalEndNs, Kind: wire.KindInstanceState, InstanceState: v}, nil
}

// toNs rounds seconds (0 to maxIntervalSeconds) to nanoseconds.
func toNs(s float64) int64 {
	ns, _ := roundScaled(s, 1e9)
	return int64(ns)
}

// setupStatuses maps the Director's status words to the schema's enum.
var setupStatuses = map[string]wire.SetupStatus{
	"unknown": wire.SetupUnknown,
	"ready":   wire.SetupReady,
	"failed":  wire.SetupFailed,
	"timeout": wire.SetupTimeout,
}

// setupRun converts the Director's setup-run report. A status word the
// schema has no enumerant for is kept as SetupUnknown rather than
// refused: the run happened, and losing it would hide a failing setup.
// unmapped returns such a word for the caller to count and log.
func setupRun(f *fields) (ev wire.Event, unmapped string, rerr *reqError) {
	status := f.str("status", true)
	started, _ := f.timestamp("started_at", true)
	completed, _ := f.timestamp("completed_at", true)
	scheduled, _ := f.timestamp("scheduled_at", false)
	logs := f.str("logs", true)
	v := wire.SetupRun{
		InstanceMetadata: f.labels("instance_metadata", true),
		RuntimeMetadata:  f.labels("runtime_metadata", true),
		DeploymentKey:    f.str("deployment_key", false),
		InstanceID:       f.str("instance_id", false),
	}
	if f.err != nil {
		return wire.Event{}, "", f.err
	}
	if status == "" {
		return wire.Event{}, "", badValue("field \"status\" is empty")
	}
	st, known := setupStatuses[status]
	if !known {
		unmapped = status
	}
	if completed < started {
		return wire.Event{}, "", badValue("completed_at is before started_at")
	}
	v.Status, v.ScheduledAtNs, v.StartedAtNs, v.CompletedAtNs = st, scheduled, started, completed
	v.Logs, v.LogsDroppedBytes = lastBytes(logs, maxLogBytes)
	return wire.Event{TimestampNs: completed, Kind: wire.KindSetupRun, SetupRun: v}, unmapped, nil
}

// lastBytes returns at most the last n bytes of s, starting on a UTF-8
// boundary, and how many bytes it left out.
func lastBytes(s string, n int) (string, uint64) {
	if len(s) <= n {
		return s, 0
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:], uint64(i)
}

// download converts one of pget's download metrics. Its duration is
// duration_seconds when given, else size / bytes_per_second (0 when the
// rate is 0); the URL is normalised (normalizeURL).
func download(f *fields, nowNs int64) (wire.Event, *reqError) {
	raw := f.str("url", true)
	size := f.uint64("size", true)
	bps, _ := f.number("bytes_per_second", true)
	errText := f.str("error", true)
	durS, hasDur := f.number("duration_seconds", false)
	v := wire.Download{InstanceID: f.str("instance_id", false)}
	if f.err != nil {
		return wire.Event{}, f.err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return wire.Event{}, badValue("field \"url\": %q is not an absolute URL with a host", clip(raw))
	}
	if bps < 0 {
		return wire.Event{}, badValue("field \"bytes_per_second\": %v is negative", bps)
	}
	var ok bool
	switch {
	case hasDur && durS < 0:
		return wire.Event{}, badValue("field \"duration_seconds\": %v is negative", durS)
	case hasDur:
		v.DurationUs, ok = roundScaled(durS, 1e6)
	case bps > 0:
		v.DurationUs, ok = roundScaled(float64(size)/bps, 1e6)
	default:
		ok = true
	}
	if !ok {
		return wire.Event{}, badValue("the download's duration in microseconds does not fit 64 bits")
	}
	v.URL = normalizeURL(raw, u)
	v.Host = strings.ToLower(u.Host)
	v.SizeBytes, v.BytesPerSecond, v.Error = size, bps, errText
	return wire.Event{TimestampNs: nowNs, Kind: wire.KindDownload, Download: v}, nil
}

func badValue(format string, args ...any) *reqError {
	f := fields{}
	f.fail(http.StatusBadRequest, reasonBadValue, format, args...)
	return f.err
}
