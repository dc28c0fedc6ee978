package forwarder

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestManyBatchesIntact sends many small batches from concurrent emitters,
// so that batch memory is lent to the spool's handoff, shipped in place,
// recycled and reused many times over, and checks that the collector gets
// every frame byte for byte, once.
func TestManyBatchesIntact(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.MaxMessage = 1024
	cfg.BatchMaxBytes = 4096
	cfg.ShipConcurrency = 3
	r := startForwarder(t, cfg)
	const emitters, perEmitter, perWrite = 4, 1500, 50
	var (
		sent   [][]byte
		writes = make([][][]byte, emitters) // per emitter, per write
		wg     sync.WaitGroup
	)
	es := make([]*emitter, emitters)
	for i := range es {
		es[i] = dialEmitter(t, cfg.Socket, byte(i+1))
		for range perEmitter / perWrite {
			var buf []byte
			for range perWrite {
				fr := es[i].event(t)
				sent = append(sent, fr)
				buf = append(buf, fr...)
			}
			writes[i] = append(writes[i], buf)
		}
	}
	for i, e := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, buf := range writes[i] {
				if _, err := e.c.Write(buf); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range es {
		waitFor(t, 20*time.Second, "acks", func() bool { return e.acked.Load() == perEmitter })
	}
	waitFor(t, 20*time.Second, "delivery", func() bool {
		got, _ := tc.snapshot()
		return len(got) == emitters*perEmitter
	})
	r.stop(t)
	tc.check()
	tc.mu.Lock()
	got := tc.frames
	tc.mu.Unlock()
	sortFrames(got)
	sortFrames(sent)
	if len(got) != len(sent) {
		t.Fatalf("collector got %d frames; want %d", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("frame %d differs from what was sent", i)
		}
	}
	if n := r.metric(t, "readout_forwarder_batches_shipped_total"); n < 50 {
		t.Errorf("only %v batches shipped; the test wants many", n)
	}
}
