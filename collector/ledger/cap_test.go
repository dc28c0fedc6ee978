package ledger

import "testing"

// accept offers seqs lo..hi (step 1) as the collector does: Seen first.
func accept(l *Ledger, id [16]byte, lo, hi, dropped uint64) (counted, unchecked, seen int) {
	for s := lo; s <= hi; s++ {
		if l.Seen(id, s) {
			seen++
			continue
		}
		if l.Accept(id, s, dropped, Arrival{})&Unchecked != 0 {
			unchecked++
		} else {
			counted++
		}
	}
	return
}

// The review's example: seqs 1-50 arrive, 51-100 are delayed in flight,
// and newer batches with one dropped seq between them push the emitter to
// the range cap. The delayed batch must still be counted when it lands,
// not taken for duplicates of a gap the cap joined.
func TestRangeCapKeepsBatchInFlight(t *testing.T) {
	l := New()
	id := [16]byte{1}
	accept(l, id, 1, 50, 0)
	// Ranges of one seq with one dropped seq before each, from 102 on:
	// seq 101 is a drop, 103 is, and so on. Each event reports the drops
	// below it, which do not include the 50 seqs in flight.
	seq, drops := uint64(102), uint64(1)
	for range MaxRanges + 10 {
		if c, _, _ := accept(l, id, seq, seq, drops); c != 1 {
			t.Fatalf("seq %d not counted", seq)
		}
		seq += 2
		drops++
	}
	e := l.Emitters[id]
	if len(e.Seqs) > MaxRanges {
		t.Fatalf("unexpected range count; got %d; want at most %d", len(e.Seqs), MaxRanges)
	}
	counted, unchecked, seen := accept(l, id, 51, 100, 0)
	if counted+unchecked != 50 || seen != 0 {
		t.Fatalf("the delayed batch: got %d counted, %d unchecked, %d taken for duplicates; want all 50 counted", counted, unchecked, seen)
	}
	// The stretch whose range was forgotten is no longer deduplicated, and
	// says so: a re-sent seq 1 counts again, as undeduped.
	if l.Seen(id, 1) {
		t.Fatal("seq 1 still deduplicated below the floor")
	}
	before := e.Undeduped
	if got := l.Accept(id, 1, 0, Arrival{}); got != Unchecked || e.Undeduped != before+1 {
		t.Fatalf("re-sent seq below the floor: got outcome %d, undeduped %d; want Unchecked, %d", got, e.Undeduped, before+1)
	}
	if e.Floor == 0 {
		t.Fatal("the floor never rose")
	}
}

// When the emitter's drop count explains every gap, the cap joins the
// oldest gap (its seqs can never arrive) and nothing stops being
// deduplicated.
func TestRangeCapJoinsGapsDropsExplain(t *testing.T) {
	l := New()
	id := [16]byte{2}
	seq, drops := uint64(1), uint64(0)
	for range 2 * MaxRanges {
		if c, _, _ := accept(l, id, seq, seq, drops); c != 1 {
			t.Fatalf("seq %d not counted", seq)
		}
		seq += 2 // seq+1 is dropped
		drops++
	}
	e := l.Emitters[id]
	if e.Floor != 0 || e.Undeduped != 0 {
		t.Fatalf("explained gaps raised the floor to %d (%d undeduped)", e.Floor, e.Undeduped)
	}
	if len(e.Seqs) > MaxRanges {
		t.Fatalf("unexpected range count; got %d; want at most %d", len(e.Seqs), MaxRanges)
	}
	for _, s := range []uint64{1, 3, 2*MaxRanges - 1} {
		if !l.Seen(id, s) {
			t.Fatalf("seq %d no longer deduplicated", s)
		}
	}
}

// Past the caps, a new emitter's events are counted on the untracked line,
// never refused; emitters already known keep being deduplicated.
func TestEmitterCaps(t *testing.T) {
	l := New()
	l.SetLimits(Limits{MaxEmitters: 5, MaxPerForwarder: 3})
	fwdA, fwdB := [16]byte{0xa}, [16]byte{0xb}
	for i := range 4 {
		l.Accept([16]byte{1, byte(i)}, 1, 0, Arrival{Forwarder: fwdA})
	}
	for i := range 4 {
		l.Accept([16]byte{2, byte(i)}, 1, 0, Arrival{Forwarder: fwdB})
	}
	if len(l.Emitters) != 5 {
		t.Fatalf("unexpected emitters; got %d; want 5 (3 through A, 2 through B)", len(l.Emitters))
	}
	if l.Untracked.Events != 3 {
		t.Fatalf("unexpected untracked events; got %d; want 3", l.Untracked.Events)
	}
	if !l.Seen([16]byte{1, 0}, 1) {
		t.Fatal("a known emitter lost its dedupe")
	}
	rows := l.AuditRows()
	var found bool
	for _, r := range rows {
		if r.EmitterID == UntrackedID {
			found = true
			if r.Received != 3 || r.Undeduped != 3 || !r.Untracked || r.Unexplained() != 0 {
				t.Fatalf("unexpected untracked row %+v", r)
			}
		}
	}
	if !found {
		t.Fatal("no audit row for untracked emitters")
	}
	// Expiry frees the per-forwarder count.
	l.Emitters[[16]byte{1, 0}].ActiveNs = -1
	if n := l.Expire(0); n != 1 {
		t.Fatalf("expire: got %d; want 1", n)
	}
	if got := l.Accept([16]byte{1, 9}, 1, 0, Arrival{Forwarder: fwdA}); got != Counted {
		t.Fatalf("after expiry a new emitter: got outcome %d; want Counted", got)
	}
}

// BenchmarkAcceptAtCap is the cost of a new gap at the range cap, once
// a 64 KiB memmove (about 620 ns per event).
func BenchmarkAcceptAtCap(b *testing.B) {
	l := New()
	id := [16]byte{3}
	seq := uint64(1)
	for range MaxRanges {
		l.Accept(id, seq, 0, Arrival{})
		seq += 2
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Accept(id, seq, 0, Arrival{})
		seq += 2
	}
}
