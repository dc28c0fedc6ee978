// Package table defines the rows of readout's output tables, the Parquet
// files under the collector's --out directory. Column names are a public
// contract (docs/parquet-schema.md): users query them with DuckDB, Spark or
// ClickHouse, and they match the keys of `readout query --format json`.
package table

import "time"

// Table folders under OUT. Each table has a folder of its own because DuckDB
// refuses a glob that mixes partitioned and unpartitioned files.
const (
	InferenceDir = "inference" // Hive-partitioned: date=YYYY-MM-DD/hour=HH/
	AuditDir     = "audit"
)

// Dimensions are the key columns of InferenceRow, in their canonical order;
// `readout query --group-by` accepts any subset.
var Dimensions = []string{"model_id", "account_id", "colo_id", "request_source", "error_code", "backend"}

// Durations are the latency measures kept per row, by column-name prefix.
var Durations = []string{"request_time_ms", "inference_time_ms", "queuing_time_ms", "ttft_ms"}

// InferenceRow is a partial aggregate of inference events for one key in one
// event-time window. Rows are additive: several rows with the same window and
// key (late data, several flushes) merge by adding counters and sums and
// merging sketches. The _p50/_p90/_p99/_mean columns describe this row alone,
// for readers that want no knowledge of readout; merged quantiles must come
// from the sketches.
type InferenceRow struct {
	WindowStart   time.Time `parquet:"window_start,timestamp(millisecond)"`
	WindowSeconds int32     `parquet:"window_seconds"`

	ModelID       string `parquet:"model_id,dict"`
	AccountID     uint64 `parquet:"account_id"`
	ColoID        uint32 `parquet:"colo_id"`
	RequestSource string `parquet:"request_source,dict"` // schema enumerant name: unknown, worker, pages, restApi
	ErrorCode     uint32 `parquet:"error_code"`
	Backend       string `parquet:"backend,dict"`

	Requests     int64   `parquet:"requests"`
	Errors       int64   `parquet:"errors"`   // requests with error_code != 0
	Streamed     int64   `parquet:"streamed"` // requests with streamed set
	Neurons      float64 `parquet:"neurons"`
	InputTokens  int64   `parquet:"input_tokens"`
	OutputTokens int64   `parquet:"output_tokens"`

	LocalQueueSizeMax int64 `parquet:"local_queue_size_max"`
	LocalQueueSizeSum int64 `parquet:"local_queue_size_sum"`

	RequestTimeMsSum    float64 `parquet:"request_time_ms_sum"`
	RequestTimeMsP50    float64 `parquet:"request_time_ms_p50"`
	RequestTimeMsP90    float64 `parquet:"request_time_ms_p90"`
	RequestTimeMsP99    float64 `parquet:"request_time_ms_p99"`
	RequestTimeMsMean   float64 `parquet:"request_time_ms_mean"`
	RequestTimeMsSketch []byte  `parquet:"request_time_ms_sketch"`

	InferenceTimeMsSum    float64 `parquet:"inference_time_ms_sum"`
	InferenceTimeMsP50    float64 `parquet:"inference_time_ms_p50"`
	InferenceTimeMsP90    float64 `parquet:"inference_time_ms_p90"`
	InferenceTimeMsP99    float64 `parquet:"inference_time_ms_p99"`
	InferenceTimeMsMean   float64 `parquet:"inference_time_ms_mean"`
	InferenceTimeMsSketch []byte  `parquet:"inference_time_ms_sketch"`

	QueuingTimeMsSum    float64 `parquet:"queuing_time_ms_sum"`
	QueuingTimeMsP50    float64 `parquet:"queuing_time_ms_p50"`
	QueuingTimeMsP90    float64 `parquet:"queuing_time_ms_p90"`
	QueuingTimeMsP99    float64 `parquet:"queuing_time_ms_p99"`
	QueuingTimeMsMean   float64 `parquet:"queuing_time_ms_mean"`
	QueuingTimeMsSketch []byte  `parquet:"queuing_time_ms_sketch"`

	// Time to first token covers streamed requests only: its mean is
	// ttft_ms_sum / streamed.
	TTFTMsSum    float64 `parquet:"ttft_ms_sum"`
	TTFTMsP50    float64 `parquet:"ttft_ms_p50"`
	TTFTMsP90    float64 `parquet:"ttft_ms_p90"`
	TTFTMsP99    float64 `parquet:"ttft_ms_p99"`
	TTFTMsMean   float64 `parquet:"ttft_ms_mean"`
	TTFTMsSketch []byte  `parquet:"ttft_ms_sketch"`
}

// AuditRow is one emitter's delivery record as a collector saw it. The audit
// table is a snapshot: each collector rewrites its own file.
type AuditRow struct {
	EmitterID  string    `parquet:"emitter_id"` // canonical UUID text
	FirstSeq   int64     `parquet:"first_seq"`
	LastSeq    int64     `parquet:"last_seq"` // highest seq seen, or the final seq once closed
	Received   int64     `parquet:"received"` // distinct seqs received
	Dropped    int64     `parquet:"dropped"`  // the emitter's newest in-band droppedTotal
	Duplicates int64     `parquet:"duplicates"`
	Closed     bool      `parquet:"closed"` // the emitter's final message arrived
	LastSeen   time.Time `parquet:"last_seen,timestamp(millisecond)"`
	// Undeduped counts received events that were not checked against
	// earlier deliveries (see docs/input-policy.md, "Duplicates"): any of
	// them may be a re-delivery counted twice.
	Undeduped int64 `parquet:"undeduped"`
	// Untracked marks the row for emitters past the ledger's caps; its
	// emitter_id is "untracked" and its counts are totals over them.
	Untracked bool `parquet:"untracked"`
}

// Unexplained is the number of seqs neither received nor reported dropped:
// events lost in transit. Zero is the pipeline's proof of no loss.
func (r *AuditRow) Unexplained() int64 { return r.LastSeq - r.Received - r.Dropped }
