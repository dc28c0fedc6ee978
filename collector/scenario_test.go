package collector

import (
	"math/rand"
	"time"

	"github.com/readout-dev/readout/wire"
)

// scenario is a delivery plan: batches in the order they are posted, with
// re-sent batches, in-batch duplicates, anonymous events, events late for
// windows already written, and final messages.
type scenario struct {
	phase1, phase2 [][]wire.Event
}

func makeScenario(seed int64, emitters, perEmitter int, base time.Time, anonymous int) *scenario {
	r := rand.New(rand.NewSource(seed))
	var early, late []wire.Event
	for e := 0; e < emitters; e++ {
		var id [16]byte
		r.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		var dropped uint64
		for seq := uint64(1); seq <= uint64(perEmitter); seq++ {
			if e == 0 && seq%17 == 0 {
				dropped++ // the emitter dropped this one: never sent
				continue
			}
			w := time.Duration(int(seq-1)*5/perEmitter) * time.Minute
			ts := base.Add(w + time.Duration(r.Int63n(int64(time.Minute))))
			ev := genEvent(r, id, seq, dropped, ts)
			if r.Intn(10) == 0 {
				late = append(late, ev)
			} else {
				early = append(early, ev)
			}
		}
		if e != emitters-1 { // the last emitter never closes
			late = append(late, wire.Event{EmitterID: id, Seq: uint64(perEmitter), DroppedTotal: dropped, Kind: wire.KindClosed, TimestampNs: base.UnixNano()})
		}
	}
	for i := 0; i < anonymous; i++ {
		ev := genEvent(r, [16]byte{}, 0, 0, base.Add(time.Duration(r.Int63n(int64(5*time.Minute)))))
		early = append(early, ev)
	}
	r.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
	s := &scenario{phase1: chunk(r, early), phase2: chunk(r, late)}
	// Re-send some phase-1 batches in each phase: duplicates across batches
	// (anonymous events in them are counted again, as they must be).
	for i := 0; i < len(s.phase1)/4; i++ {
		s.phase2 = append(s.phase2, s.phase1[r.Intn(len(s.phase1))])
	}
	n := len(s.phase1)
	for i := 0; i < n/4; i++ {
		s.phase1 = append(s.phase1, s.phase1[r.Intn(n)])
	}
	r.Shuffle(len(s.phase2), func(i, j int) { s.phase2[i], s.phase2[j] = s.phase2[j], s.phase2[i] })
	return s
}

// chunk cuts events into batches of up to 25, a few of which carry one of
// their events twice.
func chunk(r *rand.Rand, evs []wire.Event) [][]wire.Event {
	var out [][]wire.Event
	for len(evs) > 0 {
		n := min(len(evs), 1+r.Intn(25))
		b := append([]wire.Event(nil), evs[:n]...)
		if r.Intn(5) == 0 {
			b = append(b, b[r.Intn(len(b))])
		}
		out = append(out, b)
		evs = evs[n:]
	}
	return out
}
