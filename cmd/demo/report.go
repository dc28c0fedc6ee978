package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// report prints what the output files say, checks it against loadgen's
// truth and the audit, and shows the commands to explore further.
func report(ctx context.Context, p *pipeline.Pipeline, truthPath string, out io.Writer) error {
	byModel, err := p.QueryJSON(ctx, "--group-by", "model_id")
	if err != nil {
		return err
	}
	sort.Slice(byModel, func(i, j int) bool { return num(byModel[i], "requests") > num(byModel[j], "requests") })
	fmt.Fprintf(out, "\nPer model (readout query --group-by model_id)\n")
	// Right-aligned columns; model names padded to one width read as left-aligned.
	width := len("model")
	for _, r := range byModel {
		width = max(width, len(fmt.Sprint(r["model_id"])))
	}
	tw := tabwriter.NewWriter(out, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\trequests\terror rate\tp50 ms\tp99 ms\tTTFT p50 ms\tTTFT p99 ms\tneurons\t\n", width, "model")
	for _, r := range byModel {
		req := num(r, "requests")
		errRate := 0.0
		if req > 0 {
			errRate = 100 * num(r, "errors") / req
		}
		ttft50, ttft99 := "-", "-"
		if num(r, "streamed") > 0 {
			ttft50, ttft99 = fmt.Sprintf("%.1f", num(r, "ttft_ms_p50")), fmt.Sprintf("%.1f", num(r, "ttft_ms_p99"))
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%.2f%%\t%.1f\t%.1f\t%s\t%s\t%s\t\n", width, r["model_id"], thousands(int64(req)), errRate,
			num(r, "request_time_ms_p50"), num(r, "request_time_ms_p99"), ttft50, ttft99, thousands(int64(math.Round(num(r, "neurons")))))
	}
	tw.Flush()

	byAccount, err := p.QueryJSON(ctx, "--group-by", "account_id")
	if err != nil {
		return err
	}
	sort.Slice(byAccount, func(i, j int) bool { return num(byAccount[i], "neurons") > num(byAccount[j], "neurons") })
	fmt.Fprintf(out, "\nTop accounts by neurons, of %d (readout query --group-by account_id)\n", len(byAccount))
	tw = tabwriter.NewWriter(out, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "account\trequests\tneurons\t")
	for i, r := range byAccount {
		if i == 10 {
			break
		}
		fmt.Fprintf(tw, "%v\t%s\t%s\t\n", r["account_id"], thousands(int64(num(r, "requests"))), thousands(int64(math.Round(num(r, "neurons")))))
	}
	tw.Flush()

	audit, err := p.AuditJSON(ctx)
	if err != nil {
		return err
	}
	var sent, received, dropped, dups, unexplained int64
	for _, r := range audit {
		sent += int64(num(r, "sent"))
		received += int64(num(r, "received"))
		dropped += int64(num(r, "dropped"))
		dups += int64(num(r, "duplicates"))
		unexplained += int64(num(r, "unexplained"))
	}
	fmt.Fprintf(out, "\nDelivery audit (readout audit): %d emitters, %s sent, %s received, %s dropped (reported by the emitters), %s duplicates dropped, %s unexplained\n",
		len(audit), thousands(sent), thousands(received), thousands(dropped), thousands(dups), thousands(unexplained))

	tr, err := truth.Read(truthPath)
	if err != nil {
		return err
	}
	got, err := pipeline.TotalsByModel(byModel)
	if err != nil {
		return err
	}
	truthErr := pipeline.CompareTotals(tr.ByModel, got)
	if truthErr == nil {
		fmt.Fprintf(out, "Truth check: requests, errors, neurons and tokens per model equal what loadgen's emitters sent: OK\n")
	} else {
		fmt.Fprintf(out, "Truth check FAILED: %v\n", truthErr)
	}

	streamErr := reportStreams(ctx, p, tr, out)

	bin, o := p.Bin, p.Out
	fmt.Fprintf(out, "\nTry next:\n")
	fmt.Fprintf(out, "  %s query --dir %s --group-by model_id,error_code\n", filepath.Join(bin, "readout"), o)
	fmt.Fprintf(out, "  %s query --dir %s --group-by model_id --bucket 1m --format csv\n", filepath.Join(bin, "readout"), o)
	fmt.Fprintf(out, "  %s query --dir %s --table predictions --group-by deployment_key,status\n", filepath.Join(bin, "readout"), o)
	fmt.Fprintf(out, "  %s query --dir %s --table setup_runs --where status=failed\n", filepath.Join(bin, "readout"), o)
	fmt.Fprintf(out, "  %s audit --dir %s\n", filepath.Join(bin, "readout"), o)
	fmt.Fprintf(out, "  DuckDB: SELECT model_id, sum(requests) AS requests, sum(errors) AS errors, sum(neurons) AS neurons\n")
	fmt.Fprintf(out, "          FROM read_parquet('%s/inference/**/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 2 DESC;\n", o)

	if truthErr != nil {
		return truthErr
	}
	if streamErr != nil {
		return streamErr
	}
	if unexplained != 0 {
		return fmt.Errorf("audit shows %d unexplained events", unexplained)
	}
	return nil
}

func num(r map[string]any, k string) float64 {
	if v, ok := r[k].(json.Number); ok {
		f, _ := v.Float64()
		return f
	}
	return 0
}
