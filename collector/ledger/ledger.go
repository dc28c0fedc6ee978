package ledger

import (
	"time"

	"github.com/google/uuid"

	"github.com/readout-dev/readout/table"
)

// Emitter is what the collector knows of one emitter instance.
type Emitter struct {
	Seqs       Ranges `json:"seqs"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"` // highest seq seen, or the final seq once closed
	Received   int64  `json:"received"` // distinct seqs accepted
	Dropped    uint64 `json:"dropped"`  // newest in-band droppedTotal
	Duplicates int64  `json:"duplicates"`
	Closed     bool   `json:"closed"`
	LastSeenNs int64  `json:"last_seen_ns"` // arrival time, never event time
}

// Ledger maps emitter ids to their state. Not safe for concurrent use.
type Ledger struct {
	Emitters map[[16]byte]*Emitter
}

// New returns an empty ledger.
func New() *Ledger { return &Ledger{Emitters: make(map[[16]byte]*Emitter)} }

// Seen reports whether seq of emitter id was already counted.
func (l *Ledger) Seen(id [16]byte, seq uint64) bool {
	e := l.Emitters[id]
	return e != nil && e.Seqs.Contains(seq)
}

func (l *Ledger) emitter(id [16]byte, nowNs int64) *Emitter {
	e := l.Emitters[id]
	if e == nil {
		e = &Emitter{}
		l.Emitters[id] = e
	}
	if nowNs > e.LastSeenNs {
		e.LastSeenNs = nowNs
	}
	return e
}

// Accept records seq as counted. The caller has checked Seen.
func (l *Ledger) Accept(id [16]byte, seq, droppedTotal uint64, nowNs int64) {
	e := l.emitter(id, nowNs)
	if e.Received == 0 || seq < e.FirstSeq {
		e.FirstSeq = seq
	}
	if seq > e.LastSeq {
		e.LastSeq = seq
	}
	if droppedTotal > e.Dropped {
		e.Dropped = droppedTotal
	}
	e.Seqs = e.Seqs.Add(seq)
	e.Received++
}

// Duplicate counts n re-deliveries of already counted seqs.
func (l *Ledger) Duplicate(id [16]byte, n int64, nowNs int64) {
	l.emitter(id, nowNs).Duplicates += n
}

// Close records the emitter's final message: its last seq and final drop
// count. A re-sent final message changes nothing.
func (l *Ledger) Close(id [16]byte, finalSeq, droppedTotal uint64, nowNs int64) {
	e := l.emitter(id, nowNs)
	e.Closed = true
	if finalSeq > e.LastSeq {
		e.LastSeq = finalSeq
	}
	if droppedTotal > e.Dropped {
		e.Dropped = droppedTotal
	}
}

// Expire forgets emitters not heard from since cutoffNs (arrival time) and
// returns how many it forgot.
func (l *Ledger) Expire(cutoffNs int64) int {
	n := 0
	for id, e := range l.Emitters {
		if e.LastSeenNs < cutoffNs {
			delete(l.Emitters, id)
			n++
		}
	}
	return n
}

// AuditRows returns one audit table row per emitter.
func (l *Ledger) AuditRows() []table.AuditRow {
	rows := make([]table.AuditRow, 0, len(l.Emitters))
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
		})
	}
	return rows
}
