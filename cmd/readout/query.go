package main

import (
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/readout-dev/readout/query"
)

const queryHelp = `Usage: readout query --dir OUT [--table NAME] [--from T] [--to T] [--group-by DIMS] [--bucket all|1m|1h|1d] [--format table|csv|json]

Merges the inference aggregates under OUT/inference/ into one row per group
and time bucket. Partial rows of the same window and key (late data, several
flushes, several collectors) are added up; quantiles come from the merged
DDSketches (within 1% relative error), never from averaged percentiles.
Only the date=/hour= partitions that the time range needs are read.

Flags:
  --dir OUT        the collector's --out directory (required)
  --table NAME     the table to read: inference (default; the only one so far)
  --from T         include windows starting at or after T (default: all)
  --to T           include windows starting before T (default: all)
                   T is RFC 3339 (2026-11-27T13:00:00Z) or a date (2026-11-27 = midnight UTC)
  --group-by DIMS  comma-separated dimensions: model_id, account_id, colo_id,
                   request_source, error_code, backend (default: one total row)
  --bucket B       all (default: no time column), 1m, 1h or 1d (window start truncated, UTC)
  --format F       table (default, aligned text), csv (with a header) or json (JSON Lines);
                   table shows non-printable characters as escapes (\n, \x1b, \u202e),
                   csv and json keep the exact bytes

Each row has: time (bucket start, RFC 3339; absent for --bucket all), the
group-by keys, requests, errors, error_rate, neurons, input_tokens,
output_tokens, streamed, and for each of request_time_ms, inference_time_ms,
queuing_time_ms and ttft_ms: <name>_p50, <name>_p90, <name>_p99, <name>_mean.
ttft_ms covers streamed requests only. The table shows a subset; csv and json
show every field. Rows go to stdout; warnings and errors go to stderr.

Examples:
  readout query --dir /var/lib/readout/out
  readout query --dir out --group-by model_id --from 2026-11-27 --to 2026-11-28
  readout query --dir out --group-by model_id,error_code --bucket 1h --format csv > hourly.csv
  readout query --dir out --from 2026-11-27T13:00:00Z --to 2026-11-27T14:00:00Z --bucket 1m --format json

Exit status: 0 success; 2 bad flags, unknown dimension, bad time, --from not
before --to, no inference files under OUT, or a corrupt file (named).

A corrupt file stops the query rather than being left out of its totals: a
file that is not Parquet, is damaged, or would need more than 256 MiB of
memory to decode one row group is named on stderr ("corrupt file PATH: why")
and nothing is printed on stdout. Move the file away to query the rest.
`

func runQuery(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	tableName := fs.String("table", "inference", "")
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	groupBy := fs.String("group-by", "", "")
	bucket := fs.String("bucket", "all", "")
	format := fs.String("format", "table", "")
	if status, done := parseFlags(fs, queryHelp, args, stdout, stderr); done {
		return status
	}
	opts := query.Options{Dir: *dir, Table: *tableName, Logger: newLogger(stderr)}
	var err error
	if *from != "" {
		if opts.From, err = query.ParseTime(*from); err != nil {
			return fail(stderr, "query", fmt.Errorf("--from: %w", err))
		}
	}
	if *to != "" {
		if opts.To, err = query.ParseTime(*to); err != nil {
			return fail(stderr, "query", fmt.Errorf("--to: %w", err))
		}
	}
	if opts.GroupBy, err = query.ParseGroupBy(*groupBy); err != nil {
		return fail(stderr, "query", fmt.Errorf("--group-by: %w", err))
	}
	if opts.Bucket, err = query.ParseBucket(*bucket); err != nil {
		return fail(stderr, "query", fmt.Errorf("--bucket: %w", err))
	}
	if !slices.Contains(query.Formats, *format) {
		return fail(stderr, "query", fmt.Errorf("--format: bad format %q (want table, csv or json)", *format))
	}
	if err := opts.Validate(); err != nil {
		return fail(stderr, "query", err)
	}
	res, err := query.Run(opts)
	if err != nil {
		return fail(stderr, "query", err)
	}
	if err := query.Write(stdout, res, *format); err != nil {
		return fail(stderr, "query", fmt.Errorf("write output: %w", err))
	}
	return exitOK
}
