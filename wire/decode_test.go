package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// Hand-built Cap'n Proto messages. A segment is a slice of words; pointer
// offsets count words from the word after the pointer.

func decFrame(segs ...[]uint64) []byte {
	hdr := (4 + 4*len(segs) + 7) &^ 7
	b := make([]byte, hdr)
	binary.LittleEndian.PutUint32(b, uint32(len(segs)-1))
	for i, s := range segs {
		binary.LittleEndian.PutUint32(b[4+4*i:], uint32(len(s)))
	}
	for _, s := range segs {
		for _, w := range s {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

// decSP is a struct pointer.
func decSP(off, dataWords, ptrs int) uint64 {
	return uint64(uint32(int32(off))<<2) | uint64(dataWords)<<32 | uint64(ptrs)<<48
}

// decLP is a list pointer with element size code size and n elements.
func decLP(off, size, n int) uint64 {
	return 1 | uint64(uint32(int32(off))<<2) | uint64(size)<<32 | uint64(n)<<35
}

// decFP is a far pointer to word padWord of segment seg.
func decFP(seg, padWord int, double bool) uint64 {
	v := 2 | uint64(padWord)<<3 | uint64(seg)<<32
	if double {
		v |= 4
	}
	return v
}

// decWords packs b into little-endian words, zero-padded.
func decWords(b []byte) []uint64 {
	w := make([]uint64, (len(b)+7)/8)
	for i, c := range b {
		w[i/8] |= uint64(c) << (8 * (i % 8))
	}
	return w
}

// decTextPtr returns a pointer at offset off to s as Text, and its words.
func decText(off int, s string) (uint64, []uint64) {
	return decLP(off, 2, len(s)+1), decWords(append([]byte(s), 0))
}

var decTestID = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// decEventSeg returns a segment holding an Event: the root pointer, the
// struct (4 data words: timestamp 1, seq 2, droppedTotal 3, union which) at
// word 1, its pointers id, emitterId and member at words 5, 6 and 7, then
// tail from word 8. A pointer at word p reaches word 8 with offset 7-p.
func decEventSeg(which uint16, ptrs [3]uint64, tail ...uint64) []uint64 {
	seg := []uint64{decSP(0, 4, 3), 1, 2, 3, uint64(which), ptrs[0], ptrs[1], ptrs[2]}
	return append(seg, tail...)
}

// decInference returns an Event segment whose inference member (10 data
// words, 3 text pointers) follows at word 8, with modelId's pointer and
// tail words given; other texts are null.
func decInference(modelPtr uint64, tail ...uint64) []uint64 {
	inf := make([]uint64, 13)
	inf[0] = 42 // accountId
	inf[10] = modelPtr
	// The member struct starts at word 8; its pointers at 18..20; tail at 21.
	return decEventSeg(0, [3]uint64{0, 0, decSP(0, 10, 3)}, append(inf, tail...)...)
}

type decValidCase struct {
	name  string
	frame []byte
	want  Event
}

// decValidCases are hand-built messages that both decoders must accept
// with the same result: shapes our encoders never produce but the spec
// allows.
func decValidCases() []decValidCase {
	base := Event{TimestampNs: 1, Seq: 2, DroppedTotal: 3}
	with := func(f func(*Event)) Event { e := base; f(&e); return e }

	modelPtr, modelWords := decText(2, "llama")
	olderPtr, _ := decText(0, "llama")

	// The same event with every object moved to segment 1 behind far
	// pointers: root -> pad in seg 1 -> struct in seg 1.
	farSeg1 := []uint64{decSP(0, 4, 3), 1, 2, 3, 2, 0, 0, 0}
	// Double far: root -> pad (far + tag) in seg 1 -> content at seg 2 word 0.
	dfPad := []uint64{decFP(2, 0, false), decSP(0, 4, 3)}
	dfContent := []uint64{1, 2, 3, 1, 0, 0, decSP(0, 3, 2), 7, 8, 0, 0, 0}
	// A text reached through a far pointer from the lifecycle struct.
	hostPtr, hostWords := decText(0, "host-1")

	return []decValidCase{
		{"all defaults", decFrame([]uint64{decSP(0, 4, 3), 0, 0, 0, 0, 0, 0, 0}), Event{}},
		{"null root", decFrame([]uint64{0}), Event{}},
		{"empty root struct", decFrame([]uint64{decSP(-1, 0, 0)}), Event{}},
		{"closed", decFrame(decEventSeg(2, [3]uint64{})), with(func(e *Event) { e.Kind = KindClosed })},
		{"closed ignores a garbage member pointer", decFrame(decEventSeg(2, [3]uint64{0, 0, decSP(1000, 4, 3)})),
			with(func(e *Event) { e.Kind = KindClosed })},
		{"event data section of two words", decFrame([]uint64{decSP(0, 2, 1), 1, 2, decLP(0, 2, 16), 0x0706050403020100, 0x0f0e0d0c0b0a0908}),
			Event{TimestampNs: 1, Seq: 2, ID: decTestID}},
		{"event with no pointers", decFrame([]uint64{decSP(0, 4, 0), 1, 2, 3, 1}),
			with(func(e *Event) { e.Kind = KindLifecycle })},
		{"newer event with more data and pointers", decFrame([]uint64{decSP(0, 6, 5), 1, 2, 3, 2, 99, 99,
			decLP(4, 2, 16), 0, 0, decSP(1000, 1, 1), decLP(1000, 3, 5), 0x0706050403020100, 0x0f0e0d0c0b0a0908}),
			with(func(e *Event) { e.Kind = KindClosed; e.ID = decTestID })},
		{"inference with text", decFrame(decInference(modelPtr, modelWords...)),
			with(func(e *Event) { e.Inference.AccountID = 42; e.Inference.ModelID = "llama" })},
		{"empty text", decFrame(decInference(decLP(2, 2, 1), 0)),
			with(func(e *Event) { e.Inference.AccountID = 42 })},
		{"text with an inner NUL", decFrame(decInference(decLP(2, 2, 4), 0x00630061)),
			with(func(e *Event) { e.Inference.AccountID = 42; e.Inference.ModelID = "a\x00c" })},
		{"older inference struct", decFrame(decEventSeg(0, [3]uint64{0, 0, decSP(0, 1, 1)}, 5, olderPtr, modelWords[0])),
			with(func(e *Event) { e.Inference.AccountID = 5; e.Inference.ModelID = "llama" })},
		{"inference data ends before the bools", decFrame(decEventSeg(0, [3]uint64{0, 0, decSP(0, 8, 0)}, 1, 2, 3, 4, 5, 6, 7, 8)),
			with(func(e *Event) {
				v := &e.Inference
				v.AccountID, v.RequestTimeUs, v.InferenceTimeUs, v.QueuingTimeUs, v.TimeToFirstTokenUs = 1, 2, 3, 4, 5
				v.Neurons = math.Float64frombits(6)
				v.ErrorCode, v.ColoID, v.SourceColoID = 7, 8, 0
			})},
		{"member pointer back at the event struct", decFrame(decEventSeg(0, [3]uint64{0, 0, decSP(-7, 4, 0)})),
			with(func(e *Event) {
				e.Inference.AccountID, e.Inference.RequestTimeUs, e.Inference.InferenceTimeUs = 1, 2, 3
			})},
		{"root behind a far pointer", decFrame([]uint64{decFP(1, 0, false)}, farSeg1),
			with(func(e *Event) { e.Kind = KindClosed })},
		{"far pointer to a null landing pad", decFrame([]uint64{decFP(1, 0, false)}, []uint64{0}), Event{}},
		{"root behind a double-far pointer", decFrame([]uint64{decFP(1, 0, true)}, dfPad, dfContent),
			with(func(e *Event) {
				e.Kind = KindLifecycle
				e.Lifecycle.BeginTs, e.Lifecycle.EndTs = 7, 8
			})},
		{"text behind a far pointer", decFrame(
			decEventSeg(1, [3]uint64{0, 0, decSP(0, 3, 2)}, 7, 8, 0, 0, decFP(1, 0, false)),
			append([]uint64{hostPtr}, hostWords...)),
			with(func(e *Event) {
				e.Kind = KindLifecycle
				e.Lifecycle.BeginTs, e.Lifecycle.EndTs, e.Lifecycle.Hostname = 7, 8, "host-1"
			})},
		// A composite list whose elements are smaller than Label: the
		// missing value reads as "".
		{"label with one pointer", decFrame(decPrediction(decLP(0, 7, 1), decSP(1, 0, 1), decLP(0, 2, 2), 0x6b)),
			with(func(e *Event) {
				e.Kind = KindPrediction
				e.Prediction.Attributes = []Label{{Key: "k"}}
			})},
		{"labels with a data word each", decFrame(decPrediction(decLP(0, 7, 6), decSP(2, 1, 2),
			99, decLP(4, 2, 2), 0, 99, decLP(2, 2, 2), decLP(2, 2, 2), 0x61, 0x62, 0x63)),
			with(func(e *Event) {
				e.Kind = KindPrediction
				e.Prediction.Attributes = []Label{{Key: "a"}, {Key: "b", Value: "c"}}
			})},
	}
}

// decPrediction is a segment holding an Event whose prediction member has
// attrPtr as its attributes pointer, which points at tail.
func decPrediction(attrPtr uint64, tail ...uint64) []uint64 {
	pr := make([]uint64, 11) // 5 data words, 6 pointers; attributes is the last
	pr[10] = attrPtr
	return decEventSeg(uint16(KindPrediction), [3]uint64{0, 0, decSP(0, 5, 6)}, append(pr, tail...)...)
}

type decInvalidCase struct {
	name   string
	frame  []byte
	frameR string // FrameError reason, or
	reason string // InvalidError reason
}

// decInvalidCases are hostile or broken messages with the reason each must
// be rejected for.
func decInvalidCases() []decInvalidCase {
	good, err := EncodeEventCapnp(&Event{ID: decTestID, Seq: 1, Inference: Inference{ModelID: "m"}})
	if err != nil {
		panic(err)
	}
	withHdr := func(seg0Words uint32, body []byte) []byte {
		b := binary.LittleEndian.AppendUint32([]byte{0, 0, 0, 0}, seg0Words)
		return append(b, body...)
	}
	ev := func(which uint16, ptrs [3]uint64, tail ...uint64) []byte {
		return decFrame(decEventSeg(which, ptrs, tail...))
	}
	id := decWords(decTestID[:])
	return []decInvalidCase{
		{"nothing", nil, "truncated", ""},
		{"three bytes", []byte{0, 0, 0}, "truncated", ""},
		{"no words", make([]byte, 8), "empty", ""},
		{"cut short", good[:len(good)-8], "truncated", ""},
		{"trailing bytes", append(bytes.Clone(good), make([]byte, 8)...), "trailing", ""},
		{"segment table claims 4G words", withHdr(math.MaxUint32, make([]byte, 8)), "truncated", ""},
		{"segment count 100", append(binary.LittleEndian.AppendUint32(nil, 99), make([]byte, 12)...), "segments", ""},
		{"empty first segment", decFrame([]uint64{}, []uint64{decSP(0, 0, 0)}), "", ReasonBounds},
		{"root is a list", decFrame([]uint64{decLP(0, 2, 0)}), "", ReasonPointer},
		{"root is a capability", decFrame([]uint64{3}), "", ReasonPointer},
		{"root is an unknown other pointer", decFrame([]uint64{3 | 4}), "", ReasonPointer},
		{"root beyond the segment", decFrame([]uint64{decSP(100, 1, 0), 0}), "", ReasonBounds},
		{"root before the segment", decFrame([]uint64{decSP(-5, 1, 0), 0}), "", ReasonBounds},
		{"root struct larger than the segment", decFrame([]uint64{decSP(0, 4, 3), 0}), "", ReasonBounds},
		{"root offset min int30", decFrame([]uint64{decSP(-1<<29, 0, 0)}), "", ReasonBounds},
		{"root offset max int30", decFrame([]uint64{decSP(1<<29-1, 0, 0)}), "", ReasonBounds},
		{"id of 8 bytes", ev(0, [3]uint64{decLP(2, 2, 8)}, 0), "", "id"},
		{"id of 17 bytes", ev(0, [3]uint64{decLP(2, 2, 17)}, 0, 0, 0), "", "id"},
		{"emitter id of 15 bytes", ev(0, [3]uint64{0, decLP(1, 2, 15)}, 0, 0), "", "emitter_id"},
		{"id as a list of uint16", ev(0, [3]uint64{decLP(2, 3, 8)}, id...), "", ReasonList},
		{"id as a list of pointers", ev(0, [3]uint64{decLP(2, 6, 2)}, id...), "", ReasonList},
		{"id as a composite list", ev(0, [3]uint64{decLP(2, 7, 2)}, decSP(1, 1, 0), 0, 0), "", ReasonList},
		{"id as a bit list", ev(0, [3]uint64{decLP(2, 1, 128)}, id...), "", ReasonList},
		{"id as a struct", ev(0, [3]uint64{decSP(2, 2, 0)}, id...), "", ReasonPointer},
		{"id as a capability", ev(0, [3]uint64{3}), "", ReasonPointer},
		{"id of 2^29-1 bytes", ev(0, [3]uint64{decLP(2, 2, 1<<29-1)}, id...), "", ReasonBounds},
		{"id before the segment", ev(0, [3]uint64{decLP(-100, 2, 16)}), "", ReasonBounds},
		{"unknown union member", ev(uint16(len(Kinds)+1), [3]uint64{}), "", "union"},
		{"labels as bytes", decFrame(decPrediction(decLP(0, 2, 8), 0)), "", ReasonList},
		{"labels as a struct", decFrame(decPrediction(decSP(0, 1, 0), 0)), "", ReasonPointer},
		{"labels tag is a list", decFrame(decPrediction(decLP(0, 7, 2), decLP(0, 2, 0), 0, 0)), "", ReasonList},
		{"labels tag with a negative count", decFrame(decPrediction(decLP(0, 7, 0), decSP(-1, 0, 0))), "", ReasonList},
		{"labels beyond their list", decFrame(decPrediction(decLP(0, 7, 2), decSP(2, 0, 2), 0, 0, 0, 0)), "", ReasonList},
		{"labels beyond the segment", decFrame(decPrediction(decLP(0, 7, 9), decSP(1, 0, 2), 0, 0)), "", ReasonBounds},
		{"more than MaxLabels empty labels", decFrame(decPrediction(decLP(0, 7, 0), decSP(MaxLabels+1, 0, 0))), "", ReasonList},
		{"label key of invalid UTF-8", decFrame(decPrediction(decLP(0, 7, 2), decSP(1, 0, 2), decLP(1, 2, 2), 0, 0xff)), "", ReasonUTF8},
		{"union member 0xffff", ev(0xffff, [3]uint64{}), "", "union"},
		{"inference as a list", ev(0, [3]uint64{0, 0, decLP(0, 2, 8)}, 0), "", ReasonPointer},
		{"inference beyond the segment", ev(0, [3]uint64{0, 0, decSP(0, 10, 3)}, 0), "", ReasonBounds},
		{"lifecycle huge struct", ev(1, [3]uint64{0, 0, decSP(0, 0xffff, 0xffff)}), "", ReasonBounds},
		{"text not NUL-terminated", decFrame(decInference(decLP(2, 2, 5), 0x6161616161)), "", ReasonText},
		{"text of zero bytes", decFrame(decInference(decLP(2, 2, 0))), "", ReasonText},
		{"text as a struct", decFrame(decInference(decSP(2, 1, 0), 0)), "", ReasonPointer},
		{"text as a list of words", decFrame(decInference(decLP(2, 5, 1), 0)), "", ReasonList},
		{"text of invalid UTF-8", decFrame(decInference(decLP(2, 2, 3), 0x00fe41)), "", ReasonUTF8},
		{"text with a lone surrogate", decFrame(decInference(decLP(2, 2, 4), 0x0080a0ed)), "", ReasonUTF8},
		{"member pointer to the event struct reads itself as text", ev(0, [3]uint64{0, 0, decSP(-7, 4, 3)}), "", ReasonPointer},
		{"hostname of invalid UTF-8", ev(1, [3]uint64{0, 0, decSP(0, 3, 2)}, 0, 0, 0, 0, decLP(0, 2, 2), 0x00ff), "", ReasonUTF8},
		{"far pointer to a missing segment", decFrame([]uint64{decFP(5, 0, false)}), "", ReasonPointer},
		{"far pointer beyond its segment", decFrame([]uint64{decFP(0, 9, false)}), "", ReasonBounds},
		{"far pointer to itself", decFrame([]uint64{decFP(0, 0, false)}), "", ReasonPointer},
		{"far pointer to a far pointer", decFrame([]uint64{decFP(1, 0, false)}, []uint64{decFP(1, 0, false)}), "", ReasonPointer},
		{"double-far pad beyond its segment", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(0, 0, false)}), "", ReasonBounds},
		{"double-far pad without a far pointer", decFrame([]uint64{decFP(1, 0, true)}, []uint64{0, decSP(0, 0, 0)}), "", ReasonPointer},
		{"double-far pad to a double-far", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(0, 0, true), decSP(0, 0, 0)}), "", ReasonPointer},
		{"double-far tag with an offset", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(0, 0, false), decSP(1, 0, 0)}), "", ReasonPointer},
		{"double-far tag is a capability", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(0, 0, false), 3}), "", ReasonPointer},
		{"double-far to a missing segment", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(7, 0, false), decSP(0, 0, 0)}), "", ReasonPointer},
		{"double-far content beyond its segment", decFrame([]uint64{decFP(1, 0, true)}, []uint64{decFP(0, 0, false), decSP(0, 4, 3)}), "", ReasonBounds},
	}
}

func decCheckErr(t *testing.T, err error, frameReason, reason string) {
	t.Helper()
	var fe *FrameError
	var ie *InvalidError
	switch {
	case frameReason != "":
		if !errors.As(err, &fe) || fe.Reason != frameReason {
			t.Fatalf("unexpected error; got %v; want a FrameError %q", err, frameReason)
		}
	case reason != "":
		if !errors.As(err, &ie) || ie.Reason != reason {
			t.Fatalf("unexpected error; got %v; want an InvalidError %q", err, reason)
		}
	default:
		if err == nil {
			t.Fatalf("accepted an invalid frame")
		}
	}
}

func TestDecodeEventInvalid(t *testing.T) {
	for _, tc := range decInvalidCases() {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{Seq: 77, Kind: KindClosed, Inference: Inference{ModelID: "stale"}}
			err := DecodeEvent(tc.frame, &ev)
			decCheckErr(t, err, tc.frameR, tc.reason)
			_, _, _, perr := PeekEvent(tc.frame)
			decCheckErr(t, perr, tc.frameR, tc.reason)
		})
	}
}

func TestDecodeEventValid(t *testing.T) {
	for _, tc := range decValidCases() {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{Seq: 77, Inference: Inference{ModelID: "stale", Backend: "stale"}}
			if err := DecodeEvent(tc.frame, &ev); err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if !decSameEvent(ev, tc.want) {
				t.Fatalf("unexpected event;\ngot  %+v;\nwant %+v", ev, tc.want)
			}
			// The hand-built bytes mean what the test says they mean.
			ref, err := DecodeEventCapnp(tc.frame)
			if err != nil {
				t.Fatalf("DecodeEventCapnp: %v", err)
			}
			if !decSameEvent(ref, tc.want) {
				t.Fatalf("reference disagrees;\ngot  %+v;\nwant %+v", ref, tc.want)
			}
			eid, seq, kind, err := PeekEvent(tc.frame)
			if err != nil || eid != tc.want.EmitterID || seq != tc.want.Seq || kind != tc.want.Kind {
				t.Fatalf("unexpected peek; got %x %d %v %v", eid, seq, kind, err)
			}
		})
	}
}

// decSameEvent compares events field by field, NaNs included.
func decSameEvent(a, b Event) bool { return Equal(&a, &b) }

func decRandString(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return ""
	}
	parts := []string{"a", "7", "/", "@cf/meta/llama", "é", "日本", "🙂", "\x00", "-"}
	var sb strings.Builder
	for n := r.IntN(12); n >= 0; n-- {
		sb.WriteString(parts[r.IntN(len(parts))])
	}
	return sb.String()
}

func decRandEvent(r *rand.Rand) Event {
	var ev Event
	if r.IntN(5) != 0 {
		for i := range ev.ID {
			ev.ID[i] = byte(r.Uint32())
		}
	}
	if r.IntN(5) != 0 {
		for i := range ev.EmitterID {
			ev.EmitterID[i] = byte(r.Uint32())
		}
	}
	ev.TimestampNs = int64(r.Uint64())
	ev.Seq = r.Uint64() >> r.IntN(64)
	ev.DroppedTotal = r.Uint64() >> r.IntN(64)
	ev.Kind = Kind(r.IntN(3))
	switch ev.Kind {
	case KindInference:
		ev.Inference = Inference{
			AccountID: r.Uint64(), ModelID: decRandString(r), RequestTimeUs: r.Uint64(),
			InferenceTimeUs: r.Uint64(), QueuingTimeUs: r.Uint64(), TimeToFirstTokenUs: r.Uint64(),
			Neurons: math.Float64frombits(r.Uint64()), ErrorCode: r.Uint32(), HTTPStatus: uint16(r.Uint32()),
			ColoID: r.Uint32(), SourceColoID: r.Uint32(), LocalQueueSize: r.Uint32(),
			ModelContainerID: decRandString(r), RequestSource: RequestSource(r.IntN(5)),
			Streamed: r.IntN(2) == 0, Beta: r.IntN(2) == 0, ExternalEndpoint: r.IntN(2) == 0,
			QueuedInColo: r.IntN(2) == 0, UnixSocket: r.IntN(2) == 0, Backend: decRandString(r),
			InputTokens: r.Uint32(), OutputTokens: r.Uint32(),
		}
	case KindLifecycle:
		ev.Lifecycle = Lifecycle{BeginTs: int64(r.Uint64()), EndTs: int64(r.Uint64()),
			ModelID: decRandString(r), Hostname: decRandString(r), Endpoint: decRandString(r)}
	}
	return ev
}

func TestDecodeEventRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		want := decRandEvent(r)
		frame, err := EncodeEventCapnp(&want)
		if err != nil {
			t.Fatalf("encode %d: %v", i, err)
		}
		var got Event
		if err := DecodeEvent(frame, &got); err != nil {
			t.Fatalf("event %d: DecodeEvent: %v", i, err)
		}
		if !decSameEvent(got, want) {
			t.Fatalf("event %d: unexpected event;\ngot  %+v;\nwant %+v", i, got, want)
		}
		eid, seq, kind, err := PeekEvent(frame)
		if err != nil || eid != want.EmitterID || seq != want.Seq || kind != want.Kind {
			t.Fatalf("event %d: unexpected peek; got %x %d %v %v", i, eid, seq, kind, err)
		}
	}
}

// Strings alias the frame, so decoding costs no copies; callers must copy
// what they keep.
func TestDecodeEventAliasesFrame(t *testing.T) {
	frame, err := EncodeEventCapnp(&Event{Kind: KindLifecycle, Lifecycle: Lifecycle{Hostname: "h1"}})
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := DecodeEvent(frame, &ev); err != nil {
		t.Fatal(err)
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(ev.Lifecycle.Hostname)))
	lo := uintptr(unsafe.Pointer(&frame[0]))
	if p < lo || p >= lo+uintptr(len(frame)) {
		t.Fatalf("hostname does not alias the frame")
	}
}

func TestDecodeEventNoAllocs(t *testing.T) {
	frame := decBenchFrame(t)
	var ev Event
	if n := testing.AllocsPerRun(200, func() {
		if err := DecodeEvent(frame, &ev); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("unexpected allocations in DecodeEvent; got %v; want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		if _, _, _, err := PeekEvent(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("unexpected allocations in PeekEvent; got %v; want 0", n)
	}
}

// decCapnpTool returns a function running `capnp encode` on the schema, or
// skips the test when the tool is missing outside CI.
func decCapnpTool(t *testing.T) func(text string) []byte {
	t.Helper()
	capnp, err := exec.LookPath("capnp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("capnp not on PATH: %v", err)
		}
		t.Skip("capnp not on PATH")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
	if err != nil {
		t.Fatalf("locate go-capnp: %v", err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "std")
	schema, err := filepath.Abs(filepath.Join("..", "schema", "events.capnp"))
	if err != nil {
		t.Fatal(err)
	}
	return func(text string) []byte {
		t.Helper()
		cmd := exec.Command(capnp, "encode", "-I"+std, schema, "Event")
		cmd.Stdin = strings.NewReader(text)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("capnp encode %q: %v: %s", text, err, stderr.String())
		}
		return b
	}
}

func TestDecodeEventCapnpTool(t *testing.T) {
	encode := decCapnpTool(t)
	tests := []struct {
		name string
		text string
		want Event
	}{
		{"all defaults", `()`, Event{}},
		{"closed", `(seq = 9, droppedTotal = 2, closed = void)`, Event{Seq: 9, DroppedTotal: 2, Kind: KindClosed}},
		{"inference", `(id = 0x"000102030405060708090a0b0c0d0e0f", timestampNs = -5,
			emitterId = 0x"0f0e0d0c0b0a09080706050403020100", seq = 18446744073709551615, droppedTotal = 1,
			inference = (accountId = 7, modelId = "@cf/meta/llama-3.1-8b-instruct", requestTimeUs = 1,
			inferenceTimeUs = 2, queuingTimeUs = 3, timeToFirstTokenUs = 4, neurons = 1.5, errorCode = 5,
			httpStatus = 200, coloId = 6, sourceColoId = 7, localQueueSize = 8, modelContainerId = "c-ü",
			requestSource = restApi, streamed = true, beta = false, externalEndpoint = true,
			queuedInColo = false, unixSocket = true, backend = "", inputTokens = 10, outputTokens = 11))`,
			Event{ID: decTestID, TimestampNs: -5,
				EmitterID: [16]byte{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
				Seq:       math.MaxUint64, DroppedTotal: 1, Kind: KindInference,
				Inference: Inference{AccountID: 7, ModelID: "@cf/meta/llama-3.1-8b-instruct", RequestTimeUs: 1,
					InferenceTimeUs: 2, QueuingTimeUs: 3, TimeToFirstTokenUs: 4, Neurons: 1.5, ErrorCode: 5,
					HTTPStatus: 200, ColoID: 6, SourceColoID: 7, LocalQueueSize: 8, ModelContainerID: "c-ü",
					RequestSource: SourceRESTAPI, Streamed: true, ExternalEndpoint: true, UnixSocket: true,
					InputTokens: 10, OutputTokens: 11}}},
		{"empty inference", `(inference = ())`, Event{}},
		{"lifecycle", `(lifecycle = (beginTs = 1, endTs = -1, eventType = endpoint, modelId = "m", hostname = "h"))`,
			Event{Kind: KindLifecycle, Lifecycle: Lifecycle{BeginTs: 1, EndTs: -1, ModelID: "m", Hostname: "h"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := encode(tc.text)
			var ev Event
			if err := DecodeEvent(frame, &ev); err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if !decSameEvent(ev, tc.want) {
				t.Fatalf("unexpected event;\ngot  %+v;\nwant %+v", ev, tc.want)
			}
		})
	}

	// Invalid UTF-8 is legal Cap'n Proto but not storable: the one thing
	// the reference tool writes that DecodeEvent refuses.
	var ev Event
	err := DecodeEvent(encode(`(lifecycle = (hostname = "a\xffb"))`), &ev)
	decCheckErr(t, err, "", ReasonUTF8)
}

// decBenchEvent is a typical inference event.
func decBenchEvent() Event {
	return Event{
		ID: decTestID, TimestampNs: 1_700_000_000_000_000_000, EmitterID: decTestID, Seq: 123456, DroppedTotal: 3,
		Kind: KindInference,
		Inference: Inference{AccountID: 1234567, ModelID: "@cf/meta/llama-3.1-8b-instruct", RequestTimeUs: 250000,
			InferenceTimeUs: 200000, QueuingTimeUs: 1000, TimeToFirstTokenUs: 40000, Neurons: 12.5, HTTPStatus: 200,
			ColoID: 17, SourceColoID: 18, LocalQueueSize: 2, ModelContainerID: "container-7f3a9c1e",
			RequestSource: SourceWorker, Streamed: true, Backend: "vllm", InputTokens: 512, OutputTokens: 128},
	}
}

func decBenchFrame(tb testing.TB) []byte {
	ev := decBenchEvent()
	frame, err := EncodeEventCapnp(&ev)
	if err != nil {
		tb.Fatal(err)
	}
	return frame
}

func decReportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeEvent(b *testing.B) {
	frame := decBenchFrame(b)
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := DecodeEvent(frame, &ev); err != nil {
			b.Fatal(err)
		}
	}
	decReportRate(b)
}

func BenchmarkPeekEvent(b *testing.B) {
	frame := decBenchFrame(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, _, _, err := PeekEvent(frame); err != nil {
			b.Fatal(err)
		}
	}
	decReportRate(b)
}

func BenchmarkDecodeEventCapnp(b *testing.B) {
	frame := decBenchFrame(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeEventCapnp(frame); err != nil {
			b.Fatal(err)
		}
	}
	decReportRate(b)
}

// BenchmarkDecodeEventJSON is a baseline: the same event as JSON.
func BenchmarkDecodeEventJSON(b *testing.B) {
	ev := decBenchEvent()
	data, err := json.Marshal(&ev)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var got Event
		if err := json.Unmarshal(data, &got); err != nil {
			b.Fatal(err)
		}
	}
	decReportRate(b)
}
