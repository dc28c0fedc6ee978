package collector

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// TestDedupeAcrossRestartAndTTL: a re-sent batch is a duplicate after a
// restart, however old its event time; an emitter silent (by arrival time)
// for longer than the TTL is forgotten.
func TestDedupeAcrossRestartAndTTL(t *testing.T) {
	cfg := testConfig(t)
	cfg.DedupeTTL = 24 * time.Hour
	clock := newClock(testBase)
	cfg.Now = clock.now
	r := testRand()
	weekOld := genEvent(r, [16]byte{5}, 1, 0, testBase.Add(-7*24*time.Hour))
	body := encodeBatch(t, [16]byte{1}, 1, []wire.Event{weekOld})

	run := func(steps func(h *harness)) {
		h := start(t, cfg)
		steps(h)
		h.stop(t)
	}
	total := func() int64 {
		rows, _ := readRows(t, cfg.OutDir)
		return requests(rows)
	}
	run(func(h *harness) {
		if code := post(t, h.srv.URL, "", body, false); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	})
	clock.set(testBase.Add(23 * time.Hour))
	run(func(h *harness) {
		if code := post(t, h.srv.URL, "", body, false); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if got := value(t, h.c.m.duplicates); got != 1 {
			t.Fatalf("re-send after restart: %v duplicates; want 1", got)
		}
	})
	if got := total(); got != 1 {
		t.Fatalf("after a re-send across a restart: %d requests; want 1", got)
	}
	// The TTL runs on the collector's running time: 23h of it after the
	// last arrival (the re-send refreshed it) the emitter is still known;
	// 25h after, it is forgotten and the event counts anew.
	run(func(h *harness) {
		clock.set(testBase.Add(46 * time.Hour))
		if err := h.c.Flush(); err != nil {
			t.Fatal(err)
		}
		post(t, h.srv.URL, "", body, false)
		if got := value(t, h.c.m.duplicates); got != 1 {
			t.Fatalf("within the TTL: %v duplicates; want 1", got)
		}
		clock.set(testBase.Add(72 * time.Hour))
		if err := h.c.Flush(); err != nil { // the checkpoint expires silent emitters
			t.Fatal(err)
		}
		if got := value(t, h.c.m.emittersExpired); got != 1 {
			t.Fatalf("after the TTL: %v emitters expired; want 1", got)
		}
		post(t, h.srv.URL, "", body, false)
		if got := value(t, h.c.m.duplicates); got != 1 {
			t.Fatalf("after the TTL: %v duplicates; want still 1", got)
		}
	})
	if got := total(); got != 2 {
		t.Fatalf("after the TTL: %d requests; want 2", got)
	}
}

// TestDowntimeIsNotSilence is the review's example: seqs 1-3 arrive, the
// collector stops, starts again 25 hours later (more than --dedupe-ttl),
// and the same batch comes again with seqs 4-6, as a forwarder whose 200
// was lost re-sends it. The outage must not make the emitter look silent:
// 6 requests in the files, 3 duplicates in the audit.
func TestDowntimeIsNotSilence(t *testing.T) {
	cfg := testConfig(t)
	cfg.DedupeTTL = 24 * time.Hour
	clock := newClock(testBase)
	cfg.Now = clock.now
	r := testRand()
	emitter := [16]byte{7}
	var evs []wire.Event
	for seq := uint64(1); seq <= 6; seq++ {
		evs = append(evs, genEvent(r, emitter, seq, 0, testBase))
	}
	first := encodeBatch(t, [16]byte{1}, 1, evs[:3])
	again := encodeBatch(t, [16]byte{1}, 2, evs)

	h := start(t, cfg)
	if code := post(t, h.srv.URL, "", first, false); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	h.stop(t)
	for _, downtime := range []time.Duration{25 * time.Hour, 50 * time.Hour} {
		clock.set(testBase.Add(downtime))
		h = start(t, cfg)
		// The first flush tick after a start used to forget every emitter.
		if err := h.c.Flush(); err != nil {
			t.Fatal(err)
		}
		if code := post(t, h.srv.URL, "", again, false); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		h.stop(t)
	}
	rows, _ := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != 6 {
		t.Fatalf("unexpected requests in the files; got %d; want 6", n)
	}
	audit := readAuditRows(t, cfg.OutDir)
	if len(audit) != 1 || audit[0].Received != 6 || audit[0].Duplicates != 9 || audit[0].Undeduped != 0 {
		t.Fatalf("unexpected audit %+v; want 6 received, 9 duplicates (3 then 6), none undeduped", audit)
	}
}

// TestShutdownWithoutStart: Shutdown is safe on a collector never started.
func TestShutdownWithoutStart(t *testing.T) {
	c, err := Open(testConfig(t), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Idempotent: the second call returns the first's result.
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestRangeCapKeepsDelayedBatch is the review's range-cap example over
// HTTP: seqs 1-50, then newer batches whose events each follow one
// dropped seq, past the emitter's range cap, then the delayed seqs 51-100.
// They used to be answered 200 and discarded as duplicates of a gap the
// cap had joined; now all 50 count, and the stretch the cap stopped
// deduplicating is in the audit.
func TestRangeCapKeepsDelayedBatch(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	r := testRand()
	emitter := [16]byte{9}
	batchSeq := uint64(0)
	send := func(evs []wire.Event) {
		t.Helper()
		batchSeq++
		h.send(t, [16]byte{1}, batchSeq, evs)
	}
	var evs []wire.Event
	for seq := uint64(1); seq <= 50; seq++ {
		evs = append(evs, genEvent(r, emitter, seq, 0, testBase))
	}
	send(evs)
	seq, drops := uint64(102), uint64(1) // 101 dropped, then every other seq
	for range 9 {
		evs = evs[:0]
		for range ledger.MaxRanges/8 + 10 {
			evs = append(evs, genEvent(r, emitter, seq, drops, testBase))
			seq += 2
			drops++
		}
		send(evs)
	}
	sent := 50 + 9*(ledger.MaxRanges/8+10)
	evs = evs[:0]
	for s := uint64(51); s <= 100; s++ {
		evs = append(evs, genEvent(r, emitter, s, 0, testBase))
	}
	send(evs)
	if got := value(t, h.c.m.duplicates); got != 0 {
		t.Fatalf("the delayed batch: %v events taken for duplicates; want 0", got)
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != int64(sent+50) {
		t.Fatalf("unexpected requests; got %d; want %d", n, sent+50)
	}
	audit := readAuditRows(t, cfg.OutDir)
	if len(audit) != 1 || audit[0].Received != int64(sent+50) || audit[0].Unexplained() != 0 {
		t.Fatalf("unexpected audit %+v", audit)
	}
}

// TestEmitterCapsOverHTTP: a sender that uses a new emitter id per event
// cannot grow the ledger past the caps. Past them, events still count in
// the data (nothing is refused or lost), are not deduplicated, and show on
// the audit's "untracked" line and in a counter.
func TestEmitterCapsOverHTTP(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxEmittersPerForwarder = 3
	cfg.MaxEmitters = 5
	h := start(t, cfg)
	r := testRand()
	var evs []wire.Event
	for i := range 10 {
		evs = append(evs, genEvent(r, [16]byte{byte(i + 1)}, 1, 0, testBase))
	}
	for i, fwd := range [][16]byte{{1}, {2}} {
		h.send(t, fwd, 1, evs[5*i:5*i+5])
	}
	if got := len(h.c.ledger.Emitters); got != 5 {
		t.Fatalf("unexpected emitters tracked; got %d; want 5 (3 through the first forwarder, 2 through the second)", got)
	}
	if got := value(t, h.c.m.undeduped.WithLabelValues("emitter_cap")); got != 5 {
		t.Fatalf("unexpected untracked events; got %v; want 5", got)
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != 10 {
		t.Fatalf("unexpected requests; got %d; want 10", n)
	}
	var untracked *table.AuditRow
	audit := readAuditRows(t, cfg.OutDir)
	for i := range audit {
		if audit[i].EmitterID == ledger.UntrackedID {
			untracked = &audit[i]
		}
	}
	if len(audit) != 6 || untracked == nil || untracked.Received != 5 || untracked.Undeduped != 5 || !untracked.Untracked {
		t.Fatalf("unexpected audit %+v; want 5 emitters and an untracked line of 5", audit)
	}
}
