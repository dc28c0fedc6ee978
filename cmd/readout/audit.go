package main

import (
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/readout-dev/readout/query"
)

const auditHelp = `Usage: readout audit --dir OUT [--format table|json] [--fail-on-gaps]

Accounts for every event of every emitter, from the audit files under
OUT/audit/ (one per collector, merged by emitter id). Per emitter:
  emitter_id   the emitter instance's UUID
  sent         its last seq: every event it was offered, dropped ones included
  received     distinct seqs the collectors received
  dropped      events the emitter reported dropping (in-band)
  duplicates   re-sent events recognised and not counted again
  unexplained  sent - received - dropped: events lost without a trace
               (negative means more was counted than sent)
  closed       whether the emitter's final message arrived
  status       complete (closed, nothing unexplained), open (not closed yet,
               nothing unexplained so far) or gaps (unexplained != 0)
Zero unexplained everywhere is the pipeline's proof of no loss.

Flags:
  --dir OUT        the collector's --out directory (required)
  --format F       table (default: aligned text, then a totals line and a
                   verdict line) or json (JSON Lines with the keys above)
  --fail-on-gaps   exit with status 1 when any emitter has unexplained != 0

Examples:
  readout audit --dir /var/lib/readout/out
  readout audit --dir out --format json
  readout audit --dir out --fail-on-gaps > /dev/null || echo "events lost"

Exit status: 0 the report was printed (gaps or not, unless --fail-on-gaps);
1 gaps found with --fail-on-gaps; 2 bad flags, no audit files, or a corrupt
file (named; see readout query --help).
`

func runAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	format := fs.String("format", "table", "")
	failOnGaps := fs.Bool("fail-on-gaps", false, "")
	if status, done := parseFlags(fs, auditHelp, args, stdout, stderr); done {
		return status
	}
	if *dir == "" {
		return fail(stderr, "audit", fmt.Errorf("--dir is required"))
	}
	if !slices.Contains(query.AuditFormats, *format) {
		return fail(stderr, "audit", fmt.Errorf("--format: bad format %q (want table or json)", *format))
	}
	emitters, err := query.Audit(*dir)
	if err != nil {
		return fail(stderr, "audit", err)
	}
	if err := query.WriteAudit(stdout, emitters, *format); err != nil {
		return fail(stderr, "audit", fmt.Errorf("write output: %w", err))
	}
	if *failOnGaps && query.Summarize(emitters).WithGaps > 0 {
		return exitGaps
	}
	return exitOK
}
