package forwarder

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// TestAppend: a local source's event is validated as an emitter's frame
// is, waits until durable, and is shipped with the rest; a bad frame is
// refused before anything is handed on; once Run drains, Append refuses.
func TestAppend(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.MaxMessage = 1024
	r := startForwarder(t, cfg)
	id := [16]byte{0x1c, 1}
	ev := wire.Event{EmitterID: id, Seq: 1, TimestampNs: 1, Kind: wire.KindDownload,
		Download: wire.Download{URL: "https://example.com/w", Host: "example.com", SizeBytes: 1}}
	wait, err := r.f.Append(wire.AppendEvent(nil, &ev))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if got := r.metric(t, "readout_forwarder_events_spooled_total"); got != 1 {
		t.Errorf("unexpected events spooled; got %v; want 1", got)
	}

	frame := wire.AppendEvent(nil, &ev)
	big := ev
	big.Download.Error = string(make([]byte, 2000))
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"garbage", []byte("not a capnp frame at all")},
		{"two frames", append(append([]byte(nil), frame...), frame...)},
		{"over the size limit", wire.AppendEvent(nil, &big)},
		{"unknown kind", wire.AppendEvent(nil, &wire.Event{EmitterID: id, Seq: 2, Kind: 99})},
	} {
		if _, err := r.f.Append(c.frame); err == nil {
			t.Errorf("%s: appended; want an error", c.name)
		}
	}

	wait, err = r.f.Append(wire.AppendEvent(nil, &wire.Event{EmitterID: id, Seq: 2, Kind: wire.KindClosed}))
	if err != nil {
		t.Fatalf("append closed: %v", err)
	}
	if err := wait(ctx); err != nil {
		t.Fatalf("wait closed: %v", err)
	}
	r.stop(t)
	if _, err := r.f.Append(frame); !errors.Is(err, ErrDraining) {
		t.Fatalf("append after drain: %v; want ErrDraining", err)
	}
	events, _ := tc.snapshot()
	if events[key{id, 1}] != 1 {
		t.Errorf("the appended event arrived %d times; want 1", events[key{id, 1}])
	}
	tc.mu.Lock()
	closedSeq, ok := tc.closed[id]
	tc.mu.Unlock()
	if !ok || closedSeq != 2 {
		t.Errorf("closed message seq %d (%v); want 2", closedSeq, ok)
	}
	tc.check()
}
