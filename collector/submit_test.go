package collector

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/readout-dev/readout/wire"
)

// TestSubmitWithoutHTTP drives the ingest core as a second transport
// would: decode, Submit, act on the verdict. No HTTP server runs.
func TestSubmitWithoutHTTP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Now = newClock(testBase).now
	c, err := Open(cfg, zaptest.NewLogger(t), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	r := testRand()
	evs := []wire.Event{genEvent(r, [16]byte{1}, 1, 0, testBase), genEvent(r, [16]byte{1}, 2, 0, testBase)}
	body := encodeBatch(t, [16]byte{2}, 1, evs)
	if _, err := DecodeBatch(body[:len(body)-3]); err == nil {
		t.Fatal("a truncated batch decoded")
	}
	for i := range 2 { // the second time, a re-send: stored, not counted again
		b, err := DecodeBatch(body)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.Submit(context.Background(), b); v != Stored || err != nil {
			t.Fatalf("submit %d: got %v, %v; want stored", i+1, v, err)
		}
	}
	if got := value(t, c.m.duplicates); got != 2 {
		t.Fatalf("unexpected duplicates; got %v; want 2", got)
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := DecodeBatch(body)
	if v, err := c.Submit(context.Background(), b); v != Busy || !errors.Is(err, ErrStopping) {
		t.Fatalf("after shutdown: got %v, %v; want busy, ErrStopping", v, err)
	}
	rows, _ := readRows(t, cfg.OutDir)
	n := requests(rows)
	if n != 2 {
		t.Fatalf("unexpected requests; got %d; want 2", n)
	}
}

// TestShutdownIdempotent: a second Shutdown waits for the first and
// returns its result, as the forwarder's does.
func TestShutdownIdempotent(t *testing.T) {
	cfg := testConfig(t)
	c, err := Open(cfg, zaptest.NewLogger(t), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	for i := range 3 {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatalf("shutdown %d: %v", i+1, err)
		}
	}
}
