package query

import (
	"fmt"
	"slices"
	"strings"

	"github.com/readout-dev/readout/table"
)

// Audit statuses.
const (
	StatusComplete = "complete" // closed, every seq received or reported dropped
	StatusOpen     = "open"     // no final message yet, nothing unexplained so far
	StatusGaps     = "gaps"     // seqs neither received nor reported dropped
	// StatusUntracked is the line of emitters past the collector's caps:
	// their events were counted, not deduplicated, and their seqs are
	// unknown, so nothing can be said of gaps.
	StatusUntracked = "untracked"
)

// Emitter is one emitter's delivery record merged over every collector.
type Emitter struct {
	EmitterID   string
	Sent        int64 // the emitter's last seq: every seq it offered to Emit
	Received    int64
	Dropped     int64 // reported in-band by the emitter
	Duplicates  int64
	Unexplained int64 // Sent - Received - Dropped; negative means over-counted
	// Undeduped counts received events that were counted without a
	// dedupe check (see docs/input-policy.md): any may be a re-delivery.
	Undeduped int64
	Closed    bool
	Status    string
}

// Audit reads every file of dir's audit table and merges the rows of each
// emitter across collectors: received and duplicates add up (each collector
// counts distinct seqs of its own share), last seq and dropped take the
// highest report, and an emitter is closed if any collector saw its final
// message. Emitters come sorted by id. A directory without audit files is an
// error wrapping ErrNoData; an unreadable file is a *CorruptError.
func Audit(dir string) ([]Emitter, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	auditDir := table.Audit.Dir(dir)
	files, err := tableFiles(auditDir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, noDataError("no audit files under " + auditDir)
	}
	merged := make(map[string]*table.AuditRow)
	for _, path := range files {
		err := eachRow(path, func(rows []table.AuditRow) error {
			for _, r := range rows {
				m := merged[r.EmitterID]
				if m == nil {
					r := r
					merged[r.EmitterID] = &r
					continue
				}
				mergeAudit(m, &r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Emitter, 0, len(merged))
	for _, r := range merged {
		e := Emitter{
			EmitterID:   r.EmitterID,
			Sent:        r.LastSeq,
			Received:    r.Received,
			Dropped:     r.Dropped,
			Duplicates:  r.Duplicates,
			Unexplained: r.Unexplained(),
			Undeduped:   r.Undeduped,
			Closed:      r.Closed,
		}
		switch {
		case r.Untracked:
			e.Status = StatusUntracked
		case e.Unexplained != 0:
			e.Status = StatusGaps
		case e.Closed:
			e.Status = StatusComplete
		default:
			e.Status = StatusOpen
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Emitter) int { return strings.Compare(a.EmitterID, b.EmitterID) })
	return out, nil
}

func mergeAudit(m, r *table.AuditRow) {
	m.Received += r.Received
	m.Duplicates += r.Duplicates
	m.Undeduped += r.Undeduped
	if m.Untracked || r.Untracked {
		// Totals over unknown emitters: each collector's line adds up.
		m.Untracked = true
		m.LastSeq += r.LastSeq
		return
	}
	m.LastSeq = max(m.LastSeq, r.LastSeq)
	m.Dropped = max(m.Dropped, r.Dropped)
	m.Closed = m.Closed || r.Closed
	if r.FirstSeq > 0 && (m.FirstSeq == 0 || r.FirstSeq < m.FirstSeq) {
		m.FirstSeq = r.FirstSeq
	}
	if r.LastSeen.After(m.LastSeen) {
		m.LastSeen = r.LastSeen
	}
}

// AuditSummary totals an audit.
type AuditSummary struct {
	Emitters, Open, WithGaps                         int
	Sent, Received, Dropped, Duplicates, Unexplained int64
	Undeduped                                        int64
	// Missing and Excess split Unexplained by sign, so that a shortfall in
	// one emitter and an over-count in another do not hide each other.
	Missing, Excess int64
}

// Summarize totals emitters.
func Summarize(emitters []Emitter) AuditSummary {
	var s AuditSummary
	for _, e := range emitters {
		s.Emitters++
		s.Sent += e.Sent
		s.Received += e.Received
		s.Dropped += e.Dropped
		s.Duplicates += e.Duplicates
		s.Undeduped += e.Undeduped
		s.Unexplained += e.Unexplained
		if e.Unexplained != 0 {
			s.WithGaps++
		}
		if e.Unexplained > 0 {
			s.Missing += e.Unexplained
		} else {
			s.Excess -= e.Unexplained
		}
		if !e.Closed && e.Status != StatusUntracked {
			s.Open++
		}
	}
	return s
}

// Verdict is the audit's conclusion in one line.
func (s AuditSummary) Verdict() string {
	if s.WithGaps == 0 {
		v := "OK: every seq is accounted for"
		if s.Open > 0 {
			v += fmt.Sprintf(" (%d of %d emitters still open: their tail is not final)", s.Open, s.Emitters)
		}
		return v + s.undedupedNote()
	}
	var what []string
	if s.Missing > 0 {
		what = append(what, fmt.Sprintf("%d events unexplained", s.Missing))
	}
	if s.Excess > 0 {
		what = append(what, fmt.Sprintf("%d more seqs received or dropped than sent", s.Excess))
	}
	return fmt.Sprintf("GAPS: %s in %d of %d emitters", strings.Join(what, ", "), s.WithGaps, s.Emitters) + s.undedupedNote()
}

func (s AuditSummary) undedupedNote() string {
	if s.Undeduped == 0 {
		return ""
	}
	return fmt.Sprintf("; %d events were counted without a dedupe check (a collector cap was reached): a re-delivery among them would be counted twice", s.Undeduped)
}
