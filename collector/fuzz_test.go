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

// FuzzRecordPayload: a WAL record's payload, as recovery reads it after
// the record's checksum passed, never panics the collector, and what it
// accepts points inside the bytes it was given.
func FuzzRecordPayload(f *testing.F) {
	h := recordHeader{forwarderID: [16]byte{1}, batchSeq: 7, arrivalNs: 99, ingestNs: 42,
		dups: []dupCount{{id: [16]byte{2}, n: 3}}}
	f.Add(appendRecordPayload(nil, &h, [][]byte{{1, 2, 3}}))
	f.Add([]byte{1})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got recordHeader
		frames, err := parseRecordPayload(b, &got)
		if err != nil {
			return
		}
		if len(frames) > len(b) || len(got.dups)*20 > len(b) {
			t.Fatalf("%d frame bytes and %d dups from %d bytes", len(frames), len(got.dups), len(b))
		}
		if b[0] == 1 && got.ingestNs != got.arrivalNs {
			t.Fatal("a version 1 record's ingest time is not its arrival time")
		}
	})
}
