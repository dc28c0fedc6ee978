package forwarding

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/readout-dev/readout/bench"
	"github.com/readout-dev/readout/wire"
)

func TestBuildPayloadsCarryTheSameEventsBothWays(t *testing.T) {
	const n, conns = 1001, 4
	p, err := BuildPayloads(n, conns, 9)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for c := range conns {
		var frames []wire.Event
		err := wire.Frames(p.Capnp[c], 1<<20, func(frame []byte) error {
			var ev wire.Event
			if err := wire.DecodeEvent(frame, &ev); err != nil {
				return err
			}
			frames = append(frames, ev)
			return nil
		})
		if err != nil {
			t.Fatalf("connection %d: %v", c, err)
		}
		lines := bytes.Split(bytes.TrimSuffix(p.JSON[c], []byte("\n")), []byte("\n"))
		if len(lines) != len(frames) {
			t.Fatalf("connection %d: %d JSON lines for %d frames", c, len(lines), len(frames))
		}
		for i, ev := range frames {
			if ev.Seq != uint64(i+1) || ev.EmitterID != frames[0].EmitterID {
				t.Fatalf("connection %d frame %d: unexpected emitter/seq %x/%d", c, i, ev.EmitterID, ev.Seq)
			}
			var j bench.JSONEvent
			if err := json.Unmarshal(lines[i], &j); err != nil {
				t.Fatalf("connection %d line %d: %v", c, i, err)
			}
			if j != bench.ToJSON(&ev) {
				t.Fatalf("connection %d event %d differs between codecs:\n%+v\n%+v", c, i, j, bench.ToJSON(&ev))
			}
		}
		total += len(frames)
	}
	if total != n {
		t.Fatalf("unexpected event count; got %d; want %d", total, n)
	}
	if _, err := BuildPayloads(0, 4, 1); err == nil {
		t.Fatal("BuildPayloads accepted zero events")
	}
}
