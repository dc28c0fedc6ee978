package query

import "time"

// inferenceColumns is the part of table.InferenceRow a query needs. Reading
// through it makes the Parquet reader skip the per-row quantile and queue
// columns, about 40% of the decoding work. Its tags must match
// table.InferenceRow's exactly; TestProjectionsMatchTables checks.
type inferenceColumns struct {
	WindowStart time.Time `parquet:"window_start,timestamp(millisecond)"`

	ModelID       string `parquet:"model_id,dict"`
	AccountID     uint64 `parquet:"account_id"`
	ColoID        uint32 `parquet:"colo_id"`
	RequestSource string `parquet:"request_source,dict"`
	ErrorCode     uint32 `parquet:"error_code"`
	Backend       string `parquet:"backend,dict"`

	Requests     int64   `parquet:"requests"`
	Errors       int64   `parquet:"errors"`
	Streamed     int64   `parquet:"streamed"`
	Neurons      float64 `parquet:"neurons"`
	InputTokens  int64   `parquet:"input_tokens"`
	OutputTokens int64   `parquet:"output_tokens"`

	RequestTimeMsSum      float64 `parquet:"request_time_ms_sum"`
	RequestTimeMsSketch   []byte  `parquet:"request_time_ms_sketch"`
	InferenceTimeMsSum    float64 `parquet:"inference_time_ms_sum"`
	InferenceTimeMsSketch []byte  `parquet:"inference_time_ms_sketch"`
	QueuingTimeMsSum      float64 `parquet:"queuing_time_ms_sum"`
	QueuingTimeMsSketch   []byte  `parquet:"queuing_time_ms_sketch"`
	TTFTMsSum             float64 `parquet:"ttft_ms_sum"`
	TTFTMsSketch          []byte  `parquet:"ttft_ms_sketch"`
}
