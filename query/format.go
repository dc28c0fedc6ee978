package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
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
	switch format {
	case "json":
		return writeJSON(w, res)
	case "csv":
		return writeCSV(w, res)
	case "table":
		return writeTable(w, res)
	}
	return fmt.Errorf("bad format %q (want table, csv or json)", format)
}

// column is one output field: its JSON key / CSV header and its value, one
// of string, int64, uint64 or float64.
type column struct {
	name  string
	value func(*Row) any
}

// columns lists the fields of every row in output order: time, the group-by
// dimensions as given, counters, then the four durations.
func columns(res *Result) []column {
	var cols []column
	if res.Bucketed {
		cols = append(cols, column{"time", func(r *Row) any { return r.Time.UTC().Format(time.RFC3339) }})
	}
	for _, d := range res.GroupBy {
		cols = append(cols, column{d, func(r *Row) any { return dimValue(d, &r.Key) }})
	}
	cols = append(cols,
		column{"requests", func(r *Row) any { return r.Requests }},
		column{"errors", func(r *Row) any { return r.Errors }},
		column{"error_rate", func(r *Row) any { return r.ErrorRate() }},
		column{"neurons", func(r *Row) any { return r.Neurons }},
		column{"input_tokens", func(r *Row) any { return r.InputTokens }},
		column{"output_tokens", func(r *Row) any { return r.OutputTokens }},
		column{"streamed", func(r *Row) any { return r.Streamed }},
	)
	for i, name := range table.Durations {
		cols = append(cols,
			column{name + "_p50", func(r *Row) any { return r.Durations[i].P50 }},
			column{name + "_p90", func(r *Row) any { return r.Durations[i].P90 }},
			column{name + "_p99", func(r *Row) any { return r.Durations[i].P99 }},
			column{name + "_mean", func(r *Row) any { return r.Durations[i].Mean }},
		)
	}
	return cols
}

func writeJSON(w io.Writer, res *Result) error {
	bw := bufio.NewWriter(w)
	cols := columns(res)
	var b []byte
	for i := range res.Rows {
		b = append(b[:0], '{')
		for j, c := range cols {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, c.name)
			b = append(b, ':')
			b = appendJSONValue(b, c.value(&res.Rows[i]))
		}
		b = append(b, '}', '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	cols := columns(res)
	rec := make([]string, len(cols))
	for j, c := range cols {
		rec[j] = c.name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for i := range res.Rows {
		for j, c := range cols {
			rec[j] = formatPlain(c.value(&res.Rows[i]))
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
