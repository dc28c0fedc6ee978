package table

import "time"

// The tables of the Replicate-style reporting streams (design.md, "Every
// reporting stream of the seed"). Like InferenceRow, each additive row is a
// partial aggregate for one key in one event-time window; setup runs are
// kept one row per run. Times that must add up exactly (state times,
// integrals, durations) are stored as integer nanoseconds or microseconds;
// `readout query` derives seconds, ratios and means from the sums, never
// from an average of ratios.

// Folders of the stream tables under OUT.
const (
	InstanceStateDir = "instance_state"
	PredictionsDir   = "predictions"
	DownloadsDir     = "downloads"
	SetupRunsDir     = "setup_runs"
)

// InstanceStateRow sums the instance-state reports whose interval ended in
// one window, per deployment, hardware, compute unit and version.
type InstanceStateRow struct {
	WindowStart   time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowSeconds int32     `parquet:"window_seconds"`

	DeploymentKey string `parquet:"deployment_key,dict"`
	Hardware      string `parquet:"hardware,dict"`
	ComputeUnit   string `parquet:"compute_unit,dict"`
	Version       string `parquet:"version,dict"`

	Reports int64 `parquet:"reports"`
	// Instances is the number of distinct instance ids among this row's
	// reports: exact within the row, an upper bound once rows are added.
	Instances int64 `parquet:"instances"`

	// Nanoseconds, summed over reports. utilization = active_ns /
	// duration_ns; mean concurrency = concurrency_ns / duration_ns.
	ActiveNs      int64 `parquet:"active_ns"`
	BootNs        int64 `parquet:"boot_ns"`
	IdleNs        int64 `parquet:"idle_ns"`
	DurationNs    int64 `parquet:"duration_ns"`
	ConcurrencyNs int64 `parquet:"concurrency_ns"`
}

// PredictionRow sums the predictions that completed in one window, per
// deployment, version, status and error code.
type PredictionRow struct {
	WindowStart   time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowSeconds int32     `parquet:"window_seconds"`

	DeploymentKey string `parquet:"deployment_key,dict"`
	Version       string `parquet:"version,dict"`
	Status        string `parquet:"status,dict"` // schema enumerant name
	ErrorCode     string `parquet:"error_code,dict"`

	Predictions  int64 `parquet:"predictions"`
	Succeeded    int64 `parquet:"succeeded"`
	Failed       int64 `parquet:"failed"`
	Canceled     int64 `parquet:"canceled"`
	Aborted      int64 `parquet:"aborted"`
	InputTokens  int64 `parquet:"input_tokens"`
	OutputTokens int64 `parquet:"output_tokens"`
	Images       int64 `parquet:"images"`

	// Predict time is completed minus started, for predictions that
	// started; Started counts them (the mean's divisor).
	Started             int64   `parquet:"started"`
	PredictTimeNs       int64   `parquet:"predict_time_ns"`
	PredictTimeMsP50    float64 `parquet:"predict_time_ms_p50"`
	PredictTimeMsP90    float64 `parquet:"predict_time_ms_p90"`
	PredictTimeMsP99    float64 `parquet:"predict_time_ms_p99"`
	PredictTimeMsMean   float64 `parquet:"predict_time_ms_mean"`
	PredictTimeMsSketch []byte  `parquet:"predict_time_ms_sketch"`
}

// DownloadRow sums the downloads reported in one window, per host and
// normalised URL.
type DownloadRow struct {
	WindowStart   time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowSeconds int32     `parquet:"window_seconds"`

	Host string `parquet:"host,dict"`
	URL  string `parquet:"url,dict"`

	Downloads int64 `parquet:"downloads"`
	Errors    int64 `parquet:"errors"` // downloads with a non-empty error
	Bytes     int64 `parquet:"bytes"`
	// DurationUs is the summed duration: bytes_per_second = bytes /
	// (duration_us / 1e6).
	DurationUs int64 `parquet:"duration_us"`

	DurationMsP50    float64 `parquet:"duration_ms_p50"`
	DurationMsP90    float64 `parquet:"duration_ms_p90"`
	DurationMsP99    float64 `parquet:"duration_ms_p99"`
	DurationMsMean   float64 `parquet:"duration_ms_mean"`
	DurationMsSketch []byte  `parquet:"duration_ms_sketch"`
}

// SetupRunRow is one setup run, in the window of its completion. Rows are
// not aggregated: each is one run. A time the report lacks is the Unix
// epoch (1970-01-01T00:00:00Z), and durations that need it are 0.
type SetupRunRow struct {
	WindowStart   time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowSeconds int32     `parquet:"window_seconds"`

	InstanceID    string    `parquet:"instance_id"`
	DeploymentKey string    `parquet:"deployment_key,dict"`
	Status        string    `parquet:"status,dict"` // schema enumerant name
	ScheduledAt   time.Time `parquet:"scheduled_at,timestamp(microsecond)"`
	StartedAt     time.Time `parquet:"started_at,timestamp(microsecond)"`
	CompletedAt   time.Time `parquet:"completed_at,timestamp(microsecond)"`

	ScheduledToStartedMs float64 `parquet:"scheduled_to_started_ms"` // started - scheduled
	ScheduledToReadyMs   float64 `parquet:"scheduled_to_ready_ms"`   // completed - scheduled
	DurationMs           float64 `parquet:"duration_ms"`             // completed - started

	LogsBytes        int64  `parquet:"logs_bytes"` // bytes of logs kept
	LogsDroppedBytes int64  `parquet:"logs_dropped_bytes"`
	Logs             string `parquet:"logs"`
}
