package ledger

import (
	"time"

	"github.com/google/uuid"

	"github.com/readout-dev/readout/table"
)

// Emitter is what the collector knows of one emitter instance.
type Emitter struct {
	Seqs Ranges `json:"seqs"`
	// Floor: seqs below it are no longer deduplicated. It rises only when
	// the range cap is reached with an oldest gap that the emitter's drops
	// do not explain (a batch may still be in flight there): rather than
	// take such a gap for seen and discard the batch when it comes, the
	// collector stops checking that stretch and counts what it lets in.
	Floor     uint64 `json:"floor,omitempty"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"` // highest seq seen, or the final seq once closed
	Received  int64  `json:"received"` // seqs accepted (distinct, except Undeduped)
	Undeduped int64  `json:"undeduped,omitempty"`
	Dropped   uint64 `json:"dropped"` // newest in-band droppedTotal
	// DroppedBelow is the seq that carried Dropped (the final seq plus one
	// for a final message): Dropped counts the drops of seqs below it.
	DroppedBelow uint64 `json:"dropped_below,omitempty"`
	Duplicates   int64  `json:"duplicates"`
	Closed       bool   `json:"closed"`
	LastSeenNs   int64  `json:"last_seen_ns"` // wall-clock arrival time, for the audit
	// ActiveNs is the last arrival on the collector's ingest clock, which
	// stands still while the collector is down: expiry measures silence
	// on it, so an outage never makes a live emitter look silent.
	ActiveNs  int64    `json:"active_ns,omitempty"`
	Forwarder [16]byte `json:"forwarder,omitempty"` // the forwarder it first came through
}

// Untracked totals what came from emitters the caps kept out of the
// ledger: counted in the data, never deduplicated, audited on one line.
type UntrackedTotals struct {
	Events     int64 // events accepted
	Duplicates int64 // copies within one group commit, dropped
	Closed     int64 // final messages
	LastSeenNs int64
}

// Limits bound the ledger's memory. Zero means no limit.
type Limits struct {
	MaxEmitters     int // emitters in all
	MaxPerForwarder int // emitters first seen through one forwarder
}

// Arrival says when and through whom a record came.
type Arrival struct {
	Forwarder [16]byte
	WallNs    int64 // wall clock, for the audit's last_seen
	IngestNs  int64 // ingest clock, for expiry
}

// Outcome is what Accept did with an event, for the caller's counters: a
// set of the bits below, Counted (0) when none.
type Outcome uint8

const (
	Counted     Outcome = 0      // recorded for deduplication
	Unchecked   Outcome = 1 << 0 // below the emitter's floor: counted, not recorded
	Untracked   Outcome = 1 << 1 // the emitter is past a cap: counted, not recorded
	FloorRaised Outcome = 1 << 2 // to make room the floor rose (a stretch is no longer deduplicated)
)

// UntrackedID is the audit row of Untracked.
const UntrackedID = "untracked"

// Ledger maps emitter ids to their state. Not safe for concurrent use.
type Ledger struct {
	Emitters     map[[16]byte]*Emitter
	Untracked    UntrackedTotals
	limits       Limits
	perForwarder map[[16]byte]int // derived from Emitters
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{Emitters: make(map[[16]byte]*Emitter), perForwarder: make(map[[16]byte]int)}
}

// SetLimits sets the caps on new emitters; emitters already known stay.
func (l *Ledger) SetLimits(lim Limits) {
	l.limits = lim
	l.recount()
}

// recount rebuilds the per-forwarder counts from the emitters.
func (l *Ledger) recount() {
	l.perForwarder = make(map[[16]byte]int)
	for _, e := range l.Emitters {
		l.perForwarder[e.Forwarder]++
	}
}

// Seen reports whether seq of emitter id was already counted. Seqs of an
// unknown emitter, or below an emitter's floor, are never seen.
func (l *Ledger) Seen(id [16]byte, seq uint64) bool {
	e := l.Emitters[id]
	return e != nil && seq >= e.Floor && e.Seqs.Contains(seq)
}

// emitter returns id's state, creating it if the caps allow; nil if not.
func (l *Ledger) emitter(id [16]byte, a Arrival) *Emitter {
	e := l.Emitters[id]
	if e == nil {
		if (l.limits.MaxEmitters > 0 && len(l.Emitters) >= l.limits.MaxEmitters) ||
			(l.limits.MaxPerForwarder > 0 && l.perForwarder[a.Forwarder] >= l.limits.MaxPerForwarder) {
			l.Untracked.LastSeenNs = max(l.Untracked.LastSeenNs, a.WallNs)
			return nil
		}
		e = &Emitter{Forwarder: a.Forwarder}
		l.Emitters[id] = e
		l.perForwarder[a.Forwarder]++
	}
	e.LastSeenNs = max(e.LastSeenNs, a.WallNs)
	e.ActiveNs = max(e.ActiveNs, a.IngestNs)
	return e
}

// Accept records seq as counted. The caller has checked Seen.
func (l *Ledger) Accept(id [16]byte, seq, droppedTotal uint64, a Arrival) Outcome {
	e := l.emitter(id, a)
	if e == nil {
		l.Untracked.Events++
		return Untracked
	}
	if e.Received == 0 || seq < e.FirstSeq {
		e.FirstSeq = seq
	}
	e.LastSeq = max(e.LastSeq, seq)
	e.noteDropped(droppedTotal, seq)
	out := e.add(seq) // before counting seq: add counts what is below it
	e.Received++
	return out
}

// noteDropped keeps the newest drop count and the seq it was reported at.
func (e *Emitter) noteDropped(droppedTotal, below uint64) {
	if droppedTotal > e.Dropped || (droppedTotal == e.Dropped && below > e.DroppedBelow) {
		e.Dropped, e.DroppedBelow = droppedTotal, below
	}
}

// add records seq in the ranges, keeping at most MaxRanges of them.
func (e *Emitter) add(seq uint64) Outcome {
	if seq < e.Floor || e.Seqs.Contains(seq) {
		// Below the floor, or (only when a replay takes another path than
		// the live run did) already recorded: in the data all the same.
		e.Undeduped++
		return Unchecked
	}
	out := Counted
	if len(e.Seqs) >= MaxRanges && !e.Seqs.extends(seq) {
		if !e.joinExplainedGap() {
			e.raiseFloor()
			out = FloorRaised
		}
		if seq < e.Floor {
			e.Undeduped++
			return out | Unchecked
		}
	}
	e.Seqs = e.Seqs.Add(seq)
	return out
}

// joinExplainedGap closes the oldest gap if the emitter's own drop count
// proves that every seq missing below the report is a drop: then no batch
// can still be in flight there, and a seq of it can never arrive.
func (e *Emitter) joinExplainedGap() bool {
	rs := e.Seqs
	if len(rs) < 2 || rs[1].Lo > e.DroppedBelow {
		return false
	}
	// Seqs run from 1. Received less Undeduped is at most the distinct
	// seqs received (an undeduped one may be new), and the ranges at or
	// above b hold received seqs only (joined gaps all lie below an
	// earlier b), so missing is never under-estimated and a seq still in
	// flight is never taken for a drop.
	b := e.DroppedBelow
	distinct, above := uint64(e.Received-e.Undeduped), e.Seqs.countFrom(b)
	if above > distinct || distinct-above > b-1 {
		return false // not a state honest input makes
	}
	if missing := (b - 1) - (distinct - above); missing != e.Dropped {
		return false
	}
	rs[1].Lo = rs[0].Lo
	e.Seqs = rs[1:]
	return true
}

// raiseFloor forgets the oldest range: its seqs, and the gap below the next
// range's start, are no longer deduplicated.
func (e *Emitter) raiseFloor() {
	e.Floor = e.Seqs[0].Hi + 1
	e.Seqs = e.Seqs[1:]
}

// Duplicate counts n re-deliveries of already counted seqs.
func (l *Ledger) Duplicate(id [16]byte, n int64, a Arrival) {
	if e := l.emitter(id, a); e != nil {
		e.Duplicates += n
		return
	}
	l.Untracked.Duplicates += n
}

// Close records the emitter's final message: its last seq and final drop
// count. A re-sent final message changes nothing.
func (l *Ledger) Close(id [16]byte, finalSeq, droppedTotal uint64, a Arrival) {
	e := l.emitter(id, a)
	if e == nil {
		l.Untracked.Closed++
		return
	}
	e.Closed = true
	e.LastSeq = max(e.LastSeq, finalSeq)
	e.noteDropped(droppedTotal, finalSeq+1)
}

// Expire forgets emitters not heard from since cutoffNs on the ingest
// clock and returns how many it forgot.
func (l *Ledger) Expire(cutoffNs int64) int {
	n := 0
	for id, e := range l.Emitters {
		if e.ActiveNs < cutoffNs {
			delete(l.Emitters, id)
			if l.perForwarder[e.Forwarder]--; l.perForwarder[e.Forwarder] <= 0 {
				delete(l.perForwarder, e.Forwarder)
			}
			n++
		}
	}
	return n
}

// LatestActive is the newest ingest-clock arrival the ledger holds.
func (l *Ledger) LatestActive() int64 {
	var m int64
	for _, e := range l.Emitters {
		m = max(m, e.ActiveNs)
	}
	return m
}

// AuditRows returns one audit table row per emitter, and one for what the
// caps kept out of the ledger.
func (l *Ledger) AuditRows() []table.AuditRow {
	rows := make([]table.AuditRow, 0, len(l.Emitters)+1)
	for id, e := range l.Emitters {
		rows = append(rows, table.AuditRow{
			EmitterID:  uuid.UUID(id).String(),
			FirstSeq:   int64(e.FirstSeq),
			LastSeq:    int64(e.LastSeq),
			Received:   e.Received,
			Dropped:    int64(e.Dropped),
			Duplicates: e.Duplicates,
			Closed:     e.Closed,
			LastSeen:   time.Unix(0, e.LastSeenNs).UTC(),
			Undeduped:  e.Undeduped,
		})
	}
	if u := l.Untracked; u != (UntrackedTotals{}) {
		// Nothing is known of these emitters' seqs: the row states what
		// arrived and claims nothing missing (sent = received).
		rows = append(rows, table.AuditRow{
			EmitterID:  UntrackedID,
			LastSeq:    u.Events,
			Received:   u.Events,
			Duplicates: u.Duplicates,
			LastSeen:   time.Unix(0, u.LastSeenNs).UTC(),
			Undeduped:  u.Events,
			Untracked:  true,
		})
	}
	return rows
}
