package collector

import (
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// FuzzDecodeBatch feeds arbitrary bodies to the handler's decode path
// (wire.DecodeBatch plus validation of every event): it must never panic,
// and what it accepts must hold exactly EventCount events that the
// reference decoder reads the same way.
func FuzzDecodeBatch(f *testing.F) {
	r := testRand()
	evs := []wire.Event{
		genEvent(r, [16]byte{1}, 1, 0, testBase),
		genEvent(r, [16]byte{}, 0, 0, testBase.Add(time.Minute)),
		{EmitterID: [16]byte{1}, Seq: 2, Kind: wire.KindClosed},
		{EmitterID: [16]byte{1}, Seq: 3, Kind: wire.KindLifecycle, Lifecycle: wire.Lifecycle{ModelID: "m"}},
	}
	f.Add(encodeBatch(f, [16]byte{9}, 1, evs))
	f.Add(encodeBatch(f, [16]byte{9}, 2, nil))
	f.Add(encodeBatch(f, [16]byte{9}, 3, evs[:1]))
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeBatchBody(body)
		if err != nil {
			if invalidReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(req.events) != int(req.batch.EventCount) || len(req.frames) != len(req.events) {
			t.Fatalf("accepted %d events, %d frames; batch says %d", len(req.events), len(req.frames), req.batch.EventCount)
		}
		for i, fr := range req.frames {
			ref, err := wire.DecodeEventCapnp(fr)
			if err != nil {
				t.Fatalf("event %d accepted but the reference decoder refuses it: %v", i, err)
			}
			got := req.events[i]
			if ref.EmitterID != got.emitter || ref.Seq != got.seq || ref.Kind != got.kind {
				t.Fatalf("event %d: fast and reference decoders disagree", i)
			}
		}
	})
}
