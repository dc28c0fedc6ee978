package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// reportStreams prints what the model instances reported, from the stream
// tables, and checks it against loadgen's truth. It returns the truth
// check's error after printing everything.
func reportStreams(ctx context.Context, p *pipeline.Pipeline, tr *truth.File, out io.Writer) error {
	states, err := p.QueryJSON(ctx, "--table", "instance_state", "--group-by", "deployment_key")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nModel instances per deployment (readout query --table instance_state --group-by deployment_key)\n")
	tw := tabwriter.NewWriter(out, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "deployment\treports\tinstance-s\tboot s\tactive s\tidle s\tutilization\tmean concurrency\t\n")
	for _, r := range states {
		fmt.Fprintf(tw, "%v\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f%%\t%.2f\t\n", r["deployment_key"], thousands(int64(num(r, "reports"))),
			num(r, "duration_s"), num(r, "boot_s"), num(r, "active_s"), num(r, "idle_s"), 100*num(r, "utilization"), num(r, "mean_concurrency"))
	}
	tw.Flush()
	fmt.Fprintf(out, "(utilization = summed active time / summed interval; mean concurrency = summed integral / summed interval)\n")

	preds, err := p.QueryJSON(ctx, "--table", "predictions", "--group-by", "deployment_key")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nPrediction outcomes (readout query --table predictions --group-by deployment_key)\n")
	tw = tabwriter.NewWriter(out, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "deployment\tpredictions\tsucceeded\tfailed\tcanceled\taborted\tp50 s\tp99 s\timages\toutput tokens\t\n")
	for _, r := range preds {
		fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t\n", r["deployment_key"], thousands(int64(num(r, "predictions"))),
			thousands(int64(num(r, "succeeded"))), thousands(int64(num(r, "failed"))), thousands(int64(num(r, "canceled"))),
			thousands(int64(num(r, "aborted"))), num(r, "predict_time_ms_p50")/1000, num(r, "predict_time_ms_p99")/1000,
			thousands(int64(num(r, "images"))), thousands(int64(num(r, "output_tokens"))))
	}
	tw.Flush()

	runs, err := p.QueryJSON(ctx, "--table", "setup_runs")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nSetup runs (readout query --table setup_runs)\n")
	tw = tabwriter.NewWriter(out, 2, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "instance\tstatus\tscheduled to started\tsetup took\tscheduled to ready\tlog bytes\t\n")
	for _, r := range runs {
		ms := func(k string) string {
			return (time.Duration(num(r, k)) * time.Millisecond).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%v\t%v\t%s\t%s\t%s\t%s\t\n", r["instance_id"], r["status"], ms("scheduled_to_started_ms"),
			ms("duration_ms"), ms("scheduled_to_ready_ms"), thousands(int64(num(r, "logs_bytes"))))
	}
	tw.Flush()

	dls, err := p.QueryJSON(ctx, "--table", "downloads", "--group-by", "host")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDownloads, reported as JSON to the forwarder (readout query --table downloads --group-by host)\n")
	tw = tabwriter.NewWriter(out, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "host\tdownloads\terrors\tGB\tMB/s\t\n")
	for _, r := range dls {
		fmt.Fprintf(tw, "%v\t%s\t%s\t%.2f\t%.1f\t\n", r["host"], thousands(int64(num(r, "downloads"))), thousands(int64(num(r, "errors"))),
			num(r, "bytes")/1e9, num(r, "bytes_per_second")/1e6)
	}
	tw.Flush()

	if err := p.CheckStreams(ctx, tr.Streams); err != nil {
		fmt.Fprintf(out, "Truth check of the instance tables FAILED:\n%v\n", err)
		return err
	}
	fmt.Fprintf(out, "Truth check: every instance-state time and integral (to the nanosecond), prediction, setup run and download equals what the instances sent: OK\n")
	return nil
}
