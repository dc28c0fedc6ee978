package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/readout-dev/readout/table"
)

// Formats are the output formats Write accepts.
var Formats = []string{"table", "csv", "json"}

// Write prints res in one of Formats: "json" is JSON Lines (one object per
// row, keys as in docs/parquet-schema.md), "csv" has a header line, "table"
// is aligned text for people.
func Write(w io.Writer, res *Result, format string) error {
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("bad format %q (want table, csv or json)", format)
	}
	switch res.Table {
	case "", table.InferenceDir:
		if format == "table" {
			return writeTable(w, res)
		}
		return writeRows(w, format, res.Rows, columns(res))
	case table.InstanceStateDir:
		return writeRows(w, format, res.InstanceState, instanceStateOutput(res))
	case table.PredictionsDir:
		return writeRows(w, format, res.Predictions, predictionOutput(res))
	case table.DownloadsDir:
		return writeRows(w, format, res.Downloads, downloadOutput(res))
	case table.LifecycleDir:
		if len(res.GroupBy) == 0 {
			return writeRows(w, format, res.Presences, presenceOutput())
		}
		return writeRows(w, format, res.PresenceGroups, presenceGroupOutput(res))
	case table.SetupRunsDir:
		if len(res.GroupBy) == 0 {
			return writeRows(w, format, res.SetupRuns, setupRunOutput())
		}
		return writeRows(w, format, res.SetupRunGroups, setupRunGroupOutput(res))
	}
	return fmt.Errorf("no output for table %q", res.Table)
}

// column is one output field: its JSON key / CSV header and its value, one
// of string, int64, uint64, float64, or nil for none (null in JSON, empty in
// CSV).
type column[R any] struct {
	name  string
	value func(*R) any
}

// columns lists the fields of every inference row in output order: time,
// the group-by dimensions as given, counters, then the four durations.
func columns(res *Result) []column[Row] {
	var cols []column[Row]
	if res.Bucketed {
		cols = append(cols, column[Row]{"time", func(r *Row) any { return r.Time.UTC().Format(time.RFC3339) }})
	}
	for _, d := range res.GroupBy {
		cols = append(cols, column[Row]{d, func(r *Row) any { return dimValue(d, &r.Key) }})
	}
	cols = append(cols,
		column[Row]{"requests", func(r *Row) any { return r.Requests }},
		column[Row]{"errors", func(r *Row) any { return r.Errors }},
		column[Row]{"error_rate", func(r *Row) any { return r.ErrorRate() }},
		column[Row]{"neurons", func(r *Row) any { return r.Neurons }},
		column[Row]{"input_tokens", func(r *Row) any { return r.InputTokens }},
		column[Row]{"output_tokens", func(r *Row) any { return r.OutputTokens }},
		column[Row]{"streamed", func(r *Row) any { return r.Streamed }},
	)
	for i, name := range table.Durations {
		cols = append(cols, durationColumns(name, func(r *Row) *Duration { return &r.Durations[i] })...)
	}
	return cols
}

// durationColumns are <name>_p50, _p90, _p99 and _mean of a duration.
func durationColumns[R any](name string, d func(*R) *Duration) []column[R] {
	return []column[R]{
		{name + "_p50", func(r *R) any { return d(r).P50 }},
		{name + "_p90", func(r *R) any { return d(r).P90 }},
		{name + "_p99", func(r *R) any { return d(r).P99 }},
		{name + "_mean", func(r *R) any { return d(r).Mean }},
	}
}

// groupColumns are the fields that identify a row of a stream table: time
// when bucketed, then the group-by dimensions as given.
func groupColumns[R any](res *Result, g func(*R) *Group) []column[R] {
	var cols []column[R]
	if res.Bucketed {
		cols = append(cols, column[R]{"time", func(r *R) any { return g(r).Time.UTC().Format(time.RFC3339) }})
	}
	for i, d := range res.GroupBy {
		cols = append(cols, column[R]{d, func(r *R) any { return g(r).Key[i] }})
	}
	return cols
}

// writeRows prints rows in format; "table" shows every column.
func writeRows[R any](w io.Writer, format string, rows []R, cols []column[R]) error {
	switch format {
	case "json":
		return writeJSON(w, rows, cols)
	case "csv":
		return writeCSV(w, rows, cols)
	}
	return writeGrid(w, rows, cols)
}

func writeJSON[R any](w io.Writer, rows []R, cols []column[R]) error {
	bw := bufio.NewWriter(w)
	var b []byte
	for i := range rows {
		b = append(b[:0], '{')
		for j, c := range cols {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, c.name)
			b = append(b, ':')
			b = appendJSONValue(b, c.value(&rows[i]))
		}
		b = append(b, '}', '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeCSV[R any](w io.Writer, rows []R, cols []column[R]) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(cols))
	for j, c := range cols {
		rec[j] = c.name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for i := range rows {
		for j, c := range cols {
			rec[j] = formatPlain(c.value(&rows[i]))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// appendJSONValue writes v as JSON: numbers as numbers (integers exact,
// uint64 included), non-finite floats as null.
func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		s, _ := json.Marshal(v) // cannot fail for a string
		return append(b, s...)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...)
		}
		return appendFloat(b, v)
	}
	return append(b, "null"...)
}

// formatPlain renders v for CSV: like JSON, but strings unquoted and
// non-finite floats empty.
func formatPlain(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return string(appendFloat(nil, v))
	}
	return string(appendJSONValue(nil, v))
}

// appendFloat writes the shortest text that reads back as f, in plain
// notation except for very large or very small magnitudes (as encoding/json
// does).
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}
