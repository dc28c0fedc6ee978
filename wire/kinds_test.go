package wire

import (
	"bytes"
	"strings"
	"testing"
)

// memberOf is the Member of ev's value; the zero Member for a kind without
// one (closed). A new kind with a value adds its case here.
func memberOf(ev *Event) Member {
	switch ev.Kind {
	case KindInference:
		return InferenceMember(&ev.Inference)
	case KindLifecycle:
		return LifecycleMember(&ev.Lifecycle)
	}
	return Member{}
}

// TestEveryKindRoundTrips walks every Kind that has a name and checks that
// each codec knows it: the fast and the reference encoders agree byte for
// byte, both decoders read it back, and a kind with a value has a Member
// that Check accepts and Fill copies back. A kind added to event.go but
// missing from a switch in kinds.go fails here.
func TestEveryKindRoundTrips(t *testing.T) {
	n := 0
	for k := Kind(0); k.String() != "unknown"; k++ {
		n++
		t.Run(k.String(), func(t *testing.T) {
			ev := Event{ID: [16]byte{1}, EmitterID: [16]byte{2}, Seq: 3, Kind: k}
			fast := AppendEvent(nil, &ev)
			ref, err := EncodeEventCapnp(&ev)
			if err != nil {
				t.Fatalf("reference encoder: %v", err)
			}
			if !bytes.Equal(fast, ref) {
				t.Fatalf("AppendEvent and EncodeEventCapnp differ:\n got %x\nwant %x", fast, ref)
			}
			var got Event
			if err := DecodeEvent(fast, &got); err != nil || got != ev {
				t.Fatalf("DecodeEvent: %+v, %v; want %+v", got, err, ev)
			}
			if got, err := DecodeEventCapnp(fast); err != nil || got != ev {
				t.Fatalf("DecodeEventCapnp: %+v, %v; want %+v", got, err, ev)
			}
			if k == KindClosed {
				return // Void: nothing to emit
			}
			m := memberOf(&ev)
			if err := m.Check(MaxMessageSize); err != nil {
				t.Fatalf("Member.Check: %v", err)
			}
			var filled Event
			m.Fill(&filled)
			if want := (Event{Kind: k, Inference: ev.Inference, Lifecycle: ev.Lifecycle}); filled != want {
				t.Fatalf("Member.Fill: %+v; want %+v", filled, want)
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d kinds have a name", n)
	}
}

// TestCheck: Member.Check refuses exactly the events whose texts are not
// valid UTF-8 and those whose encoding, once stamped with both ids, would
// exceed the limit, for every kind, across the limit, and the zero Member.
func TestCheck(t *testing.T) {
	const limit = 1024
	for n := 700; n <= 1000; n += 7 {
		for _, k := range []Kind{KindInference, KindLifecycle} {
			ev := Event{Kind: k}
			if k == KindInference {
				ev.Inference = Inference{ModelID: strings.Repeat("m", n-5), ModelContainerID: "c-1", Backend: "vl"}
			} else {
				ev.Lifecycle = Lifecycle{ModelID: strings.Repeat("m", n-1), Hostname: "h"}
			}
			stamped := ev
			stamped.ID, stamped.EmitterID = [16]byte{1}, [16]byte{1}
			want := error(nil)
			if EncodedSize(&stamped) > limit {
				want = ErrEventTooLarge
			}
			if got := memberOf(&ev).Check(limit); got != want {
				t.Fatalf("kind %v, %d bytes of text, %d stamped: got %v; want %v", k, n, EncodedSize(&stamped), got, want)
			}
		}
	}
	bad := []Event{
		{Inference: Inference{ModelID: "llama\xff"}},
		{Inference: Inference{ModelContainerID: "\xc3"}},
		{Inference: Inference{Backend: "v\xedllm"}},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{ModelID: "m\xff"}},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{Hostname: "h\xfe"}},
	}
	for _, ev := range bad {
		if err := memberOf(&ev).Check(MaxMessageSize); err != ErrInvalidText {
			t.Fatalf("Check(%+v) = %v; want ErrInvalidText", ev, err)
		}
	}
	for _, m := range []Member{{}, InferenceMember(nil), LifecycleMember(nil)} {
		if err := m.Check(MaxMessageSize); err != ErrNoEvent {
			t.Fatalf("Check of the zero Member: %v; want ErrNoEvent", err)
		}
	}
	big := InferenceMember(&Inference{ModelID: strings.Repeat("m", 100)})
	if allocs := testing.AllocsPerRun(100, func() { _ = big.Check(64) }); allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}
