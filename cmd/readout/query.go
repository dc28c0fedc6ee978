package main

import (
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/readout-dev/readout/query"
)

const queryHelp = `Usage: readout query --dir OUT [--table NAME] [--from T] [--to T] [--where KEY=VALUE,...] [--group-by DIMS] [--bucket all|1m|1h|1d] [--format table|csv|json]

Merges the partial rows of one table under OUT into one row per group and
time bucket. Partial rows of the same window and key (late data, several
flushes, several collectors) are added up; quantiles come from the merged
DDSketches (within 1% relative error), never from averaged percentiles, and
ratios from summed integrals, never from averaged ratios. Only the
date=/hour= partitions that the time range needs are read.

Flags:
  --dir OUT        the collector's --out directory (required)
  --table NAME     the table to read (default inference), one of:
                     inference       per-request inference aggregates
                     instance_state  instance time: active, boot, idle; utilization
                     predictions     predictions by status; tokens, images, predict time
                     downloads       downloads by host and URL; bytes, throughput, duration
                     setup_runs      one row per instance setup run
                     lifecycle       one row per endpoint presence; endpoint-seconds
  --from T         include windows starting at or after T (default: all)
  --to T           include windows starting before T (default: all)
                   T is RFC 3339 (2026-11-27T13:00:00Z) or a date (2026-11-27 = midnight UTC)
  --where CONDS    keep only rows whose dimensions equal every KEY=VALUE, comma-separated
                   (repeatable; a value may hold commas unless one is followed by KEY=).
                   Keys are the table's dimensions (below); numbers as numbers
                   (colo_id=7), enums by name (request_source=worker, status=failed)
  --group-by DIMS  comma-separated dimensions of the table (default: one total row;
                   for setup_runs, the runs themselves)
  --bucket B       all (default: no time column), 1m, 1h or 1d (window start truncated, UTC)
  --format F       table (default, aligned text), csv (with a header) or json (JSON Lines);
                   table shows non-printable characters as escapes (\n, \x1b, \u202e),
                   csv and json keep the exact bytes

Dimensions (for --group-by and --where) and the fields of each row, after
time (bucket start, RFC 3339; absent for --bucket all) and the group-by keys:
  inference       model_id, account_id, colo_id, request_source, error_code, backend
                  requests, errors, error_rate, neurons, input_tokens, output_tokens,
                  streamed, and for each of request_time_ms, inference_time_ms,
                  queuing_time_ms and ttft_ms (streamed requests only): <name>_p50,
                  <name>_p90, <name>_p99, <name>_mean
  instance_state  deployment_key, hardware, compute_unit, version
                  reports, instances (an upper bound: an instance reporting in several
                  windows counts in each), active_s, boot_s, idle_s, duration_s,
                  utilization (active_s / duration_s), mean_concurrency
  predictions     deployment_key, version, status, error_code
                  predictions, succeeded, failed, canceled, aborted, input_tokens,
                  output_tokens, images, predict_time_ms_p50, _p90, _p99, _mean
  downloads       host, url
                  downloads, errors, bytes, bytes_per_second (bytes / summed duration),
                  duration_ms_p50, _p90, _p99, _mean
  setup_runs      deployment_key, status
                  without --group-by, one row per run ordered by completed_at:
                  instance_id, deployment_key, status, started_at, completed_at,
                  scheduled_to_started_ms, scheduled_to_ready_ms, duration_ms, logs_bytes;
                  with --group-by: runs, duration_ms_p50, duration_ms_p99,
                  scheduled_to_ready_ms_p50, scheduled_to_ready_ms_p99 (exact, by nearest
                  rank, over the runs that have the times each needs)
  lifecycle       model_id, endpoint, hostname
                  without --group-by, the presences overlapping [--from, --to) ordered
                  by begin: model_id, endpoint, hostname, begin, end ("" while present);
                  with --group-by: endpoints (distinct, overlapping the range) and
                  endpoint_s (presence inside the range; open ones up to --to, or now).
                  --from and --to bound the presences themselves here; no --bucket
A ratio or mean over nothing is 0. The table format shows a subset of the
inference fields; csv and json show every field. Rows go to stdout; warnings
and errors go to stderr.

Examples:
  readout query --dir /var/lib/readout/out
  readout query --dir out --group-by model_id --from 2026-11-27 --to 2026-11-28
  readout query --dir out --group-by model_id,error_code --bucket 1h --format csv > hourly.csv
  readout query --dir out --from 2026-11-27T13:00:00Z --to 2026-11-27T14:00:00Z --bucket 1m --format json
  readout query --dir out --table lifecycle --group-by model_id --from 2026-11-27 --to 2026-11-28
  readout query --dir out --where model_id=@cf/meta/llama-3.1-8b-instruct,request_source=worker --group-by colo_id
  readout query --dir out --table instance_state --group-by deployment_key,hardware --bucket 1h
  readout query --dir out --table predictions --where deployment_key=acme/flux,status=failed --group-by error_code
  readout query --dir out --table setup_runs --where status=failed --format json

Exit status: 0 success; 2 bad flags, unknown table or dimension, bad --where,
bad time, --from not before --to, no files of the table under OUT, or a
corrupt file (named).

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
	var where whereFlag
	fs.Var(&where, "where", "")
	bucket := fs.String("bucket", "all", "")
	format := fs.String("format", "table", "")
	if status, done := parseFlags(fs, queryHelp, args, stdout, stderr); done {
		return status
	}
	opts := query.Options{Dir: *dir, Table: *tableName, Where: where, Logger: newLogger(stderr)}
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
	opts.GroupBy = query.ParseGroupBy(*groupBy)
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

// whereFlag gathers the conditions of every --where given: all must hold.
type whereFlag []query.Condition

func (w *whereFlag) String() string { return "" }

func (w *whereFlag) Set(s string) error {
	conds, err := query.ParseWhere(s)
	if err != nil {
		return err
	}
	*w = append(*w, conds...)
	return nil
}
