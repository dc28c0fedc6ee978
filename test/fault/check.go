package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// AuditRow is one emitter of `readout audit --format json`.
type AuditRow struct {
	EmitterID   string `json:"emitter_id"`
	Sent        int64  `json:"sent"`
	Received    int64  `json:"received"`
	Dropped     int64  `json:"dropped"`
	Duplicates  int64  `json:"duplicates"`
	Unexplained int64  `json:"unexplained"`
	Closed      bool   `json:"closed"`
	Status      string `json:"status"`
}

// Audit runs `readout audit --format json` on p's output.
func Audit(ctx context.Context, p *pipeline.Pipeline) ([]AuditRow, error) {
	out, err := p.Readout(ctx, "audit", "--dir", p.Out, "--format", "json")
	if err != nil {
		return nil, err
	}
	var rows []AuditRow
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r AuditRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("audit line %q: %w", line, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Report is what Check measured, for the verdict line.
type Report struct {
	Emitters    int
	Emitted     uint64 // events offered to the emitters
	Sent        uint64 // written to the socket
	Dropped     uint64 // reported dropped by the emitters (in-band)
	Replayed    uint64 // re-sent by emitters after a reconnect
	Received    int64  // distinct seqs the collector counted
	Duplicates  int64  // re-sent events the collector recognised and dropped
	Unexplained int64  // summed over emitters; must be 0
}

// Check compares the pipeline's output with the truths of every fleet that
// ran against it: the query totals per model must equal the sum of the
// truths exactly (neurons to 1e-9 relative), and the audit must list
// exactly the fleets' emitters, each closed, with nothing unexplained and
// its last seq and in-band drop count equal to what the emitter reported.
// It returns every problem found rather than stopping at the first, so a
// failing run shows the whole picture.
func Check(ctx context.Context, p *pipeline.Pipeline, truths ...*truth.File) (Report, []error) {
	var rep Report
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	want := map[string]truth.Totals{}
	stats := map[string]emitter.Stats{}
	for _, t := range truths {
		for m, v := range t.ByModel {
			w := want[m]
			w.Add(v)
			want[m] = w
		}
		for _, s := range t.Emitters {
			stats[strings.ToLower(s.EmitterID.String())] = s
			rep.Emitted += s.Emitted
			rep.Sent += s.Sent
			rep.Dropped += s.DroppedInBand
			rep.Replayed += s.Replayed
			if s.Queued != 0 {
				bad("emitter %s: %d events still queued after Close", s.EmitterID, s.Queued)
			}
			if s.Sent+s.Dropped != s.Emitted {
				bad("emitter %s: sent %d + dropped %d != emitted %d", s.EmitterID, s.Sent, s.Dropped, s.Emitted)
			}
			if !s.ClosedAcked {
				bad("emitter %s: the forwarder never acknowledged its closing message", s.EmitterID)
			}
		}
	}
	rep.Emitters = len(stats)

	rows, err := p.QueryJSON(ctx, "--group-by", "model_id")
	if err != nil {
		bad("query: %v", err)
	} else if got, err := pipeline.TotalsByModel(rows); err != nil {
		bad("query rows: %v", err)
	} else if err := pipeline.CompareTotals(want, got); err != nil {
		bad("query totals differ from the truth (sum over %d fleets): %v", len(truths), err)
	}

	audit, err := Audit(ctx, p)
	if err != nil {
		bad("audit: %v", err)
		return rep, errs
	}
	seen := map[string]bool{}
	for _, r := range audit {
		id := strings.ToLower(r.EmitterID)
		seen[id] = true
		rep.Received += r.Received
		rep.Duplicates += r.Duplicates
		rep.Unexplained += r.Unexplained
		s, ok := stats[id]
		switch {
		case !ok:
			bad("audit lists emitter %s that no fleet ran: %+v", r.EmitterID, r)
			continue
		case r.Unexplained != 0:
			bad("emitter %s: %d unexplained (%+v)", r.EmitterID, r.Unexplained, r)
		case !r.Closed:
			bad("emitter %s: not closed in the audit (%+v)", r.EmitterID, r)
		}
		if uint64(r.Sent) != s.LastSeq {
			bad("emitter %s: audit sent %d; the emitter's last seq is %d", r.EmitterID, r.Sent, s.LastSeq)
		}
		if uint64(r.Dropped) != s.DroppedInBand {
			bad("emitter %s: audit dropped %d; the emitter reported %d", r.EmitterID, r.Dropped, s.DroppedInBand)
		}
		if uint64(r.Received) != s.LastSeq-s.DroppedInBand {
			bad("emitter %s: audit received %d; the emitter wrote %d", r.EmitterID, r.Received, s.LastSeq-s.DroppedInBand)
		}
	}
	var missing []string
	for id := range stats {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		bad("audit lacks emitters %v", missing)
	}
	return rep, errs
}
