package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

func TestEventsNumberEachEmitterFromOne(t *testing.T) {
	ids := Emitters(4, 7)
	evs := Events(1000, ids, 7, time.Unix(1_800_000_000, 0))
	next := map[[16]byte]uint64{}
	for i := range evs {
		ev := &evs[i]
		next[ev.EmitterID]++
		if ev.Seq != next[ev.EmitterID] {
			t.Fatalf("event %d: unexpected seq; got %d; want %d", i, ev.Seq, next[ev.EmitterID])
		}
		if ev.Kind != wire.KindInference || ev.Inference.ModelID == "" || ev.ID == ([16]byte{}) {
			t.Fatalf("event %d is not a complete inference event: %+v", i, ev)
		}
	}
	if len(next) != 4 {
		t.Fatalf("unexpected emitter count; got %d; want 4", len(next))
	}
}

func TestEventsAreDeterministic(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := Events(50, Emitters(2, 3), 3, now)
	b := Events(50, Emitters(2, 3), 3, now)
	for i := range a {
		if !wire.Equal(&a[i], &b[i]) {
			t.Fatalf("event %d differs between runs with one seed:\n%+v\n%+v", i, a[i], b[i])
		}
	}
}

func TestCodecsCarryTheSameEvent(t *testing.T) {
	evs := Events(200, Emitters(4, 1), 1, time.Unix(1_800_000_000, 0))
	for i := range evs {
		ev := &evs[i]
		frame := wire.AppendEvent(nil, ev)
		var got wire.Event
		if err := wire.DecodeEvent(frame, &got); err != nil {
			t.Fatalf("event %d: decode capnp: %v", i, err)
		}
		if !wire.Equal(&got, ev) {
			t.Fatalf("event %d: capnp round trip; got %+v; want %+v", i, got, *ev)
		}
		line, err := AppendJSONLine(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		if line[len(line)-1] != '\n' {
			t.Fatalf("event %d: JSON line lacks its newline", i)
		}
		var j JSONEvent
		if err := json.Unmarshal(line, &j); err != nil {
			t.Fatalf("event %d: decode JSON: %v", i, err)
		}
		if j != ToJSON(ev) {
			t.Fatalf("event %d: JSON round trip; got %+v; want %+v", i, j, ToJSON(ev))
		}
	}
}

func TestUUIDString(t *testing.T) {
	id := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7}
	if got, want := uuidString(id), "01234567-89ab-cdef-0001-020304050607"; got != want {
		t.Fatalf("unexpected uuid; got %s; want %s", got, want)
	}
}

func TestGeneratorMatchesEvents(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ids := Emitters(3, 5)
	want := Events(20, ids, 5, now)
	g := NewGenerator(ids, 5, now)
	for i := range want {
		var ev wire.Event
		if e := g.Next(&ev); ids[e] != ev.EmitterID {
			t.Fatalf("event %d: Next returned emitter %d, event carries %x", i, e, ev.EmitterID)
		}
		if !wire.Equal(&ev, &want[i]) {
			t.Fatalf("event %d differs:\n%+v\n%+v", i, ev, want[i])
		}
	}
}

func TestAppendJSONLineIsMarshalPlusNewline(t *testing.T) {
	evs := Events(10, Emitters(2, 1), 1, time.Unix(1_800_000_000, 0))
	var got []byte
	var want []byte
	for i := range evs {
		var err error
		if got, err = AppendJSONLine(got, &evs[i]); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(ToJSON(&evs[i]))
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, b...), '\n')
	}
	if string(got) != string(want) {
		t.Fatalf("AppendJSONLine differs from json.Marshal:\n%s\n%s", got, want)
	}
}
