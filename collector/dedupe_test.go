package collector

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	requests := func() int64 {
		rows, _ := readRows(t, cfg.OutDir)
		var n int64
		for _, row := range rows {
			n += row.Requests
		}
		return n
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
	if got := requests(); got != 1 {
		t.Fatalf("after a re-send across a restart: %d requests; want 1", got)
	}
	// 23h after the last arrival (the re-send refreshed it) the emitter is
	// still known; 25h after, it is forgotten and the event counts anew.
	clock.set(testBase.Add(46 * time.Hour))
	run(func(h *harness) {
		post(t, h.srv.URL, "", body, false)
		if got := value(t, h.c.m.duplicates); got != 1 {
			t.Fatalf("within the TTL: %v duplicates; want 1", got)
		}
	})
	clock.set(testBase.Add(72 * time.Hour))
	run(func(h *harness) {
		if err := h.c.Flush(); err != nil { // the checkpoint expires silent emitters
			t.Fatal(err)
		}
		post(t, h.srv.URL, "", body, false)
		if got := value(t, h.c.m.duplicates); got != 0 {
			t.Fatalf("after the TTL: %v duplicates; want 0", got)
		}
	})
	if got := requests(); got != 2 {
		t.Fatalf("after the TTL: %d requests; want 2", got)
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
	if err := c.Shutdown(context.Background()); err == nil {
		t.Fatal("second Shutdown succeeded")
	}
}
