package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// decStricter are the reasons DecodeEvent may refuse a message the
// reference decoder accepts (see the top of decode.go): wrong pointer kinds
// and non-byte lists, which go-capnp reads as defaults, Text without its
// NUL, which go-capnp reads as "", and invalid UTF-8.
var decStricter = map[string]bool{ReasonPointer: true, ReasonList: true, ReasonText: true, ReasonUTF8: true}

// decRefLimit is the frame size below which the reference decoder's
// traversal limit (4*DefaultMaxMessageSize bytes over at most seven
// pointers, each target within the frame) cannot be what rejects a frame.
const decRefLimit = traverseLimit / 8

func decFuzzSeeds() [][]byte {
	var seeds [][]byte
	r := rand.New(rand.NewPCG(3, 4))
	events := []Event{decBenchEvent(), {}, {Kind: KindClosed, Seq: 5, EmitterID: decTestID},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{BeginTs: 1, ModelID: "m", Hostname: "h"}}}
	for _, k := range Kinds {
		events = append(events, sampleEvent(k))
	}
	for i := 0; i < 8; i++ {
		events = append(events, decRandEvent(r))
	}
	for i := range events {
		frame, err := EncodeEventCapnp(&events[i])
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, frame)
	}
	for _, tc := range decValidCases() {
		seeds = append(seeds, tc.frame)
	}
	for _, tc := range decInvalidCases() {
		seeds = append(seeds, tc.frame)
	}
	return seeds
}

// FuzzDecodeEvent checks DecodeEvent against the go-capnp reference on
// arbitrary bytes: it never panics or changes its input, it agrees with the
// reference on every frame the reference accepts except for the documented
// stricter rules, it accepts nothing the reference refuses, and PeekEvent
// agrees with it.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range decFuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(decDiffCheck)
}

// TestDecodeEventMutations runs the fuzz target's checks on seeded random
// mutations of valid messages, so that every `go test` explores pointer
// words and sizes well beyond the fuzz corpus.
func TestDecodeEventMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var bases [][]byte
	for _, s := range decFuzzSeeds() {
		if _, err := DecodeEventCapnp(s); err == nil && len(s) > 16 {
			bases = append(bases, s)
		}
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		frame := bytes.Clone(bases[r.IntN(len(bases))])
		for m := 1 + r.IntN(3); m > 0; m-- {
			decMutate(r, frame)
		}
		decDiffCheck(t, frame)
		if t.Failed() {
			t.Fatalf("mutation %d: frame %x", i, frame)
		}
	}
}

// decMutate overwrites a byte or a word of frame's body, often with a
// plausible pointer, so that mutations reach past the framing checks.
func decMutate(r *rand.Rand, frame []byte) {
	hdr, err := HeaderSize(frame)
	if err != nil || hdr >= len(frame) {
		return
	}
	words := (len(frame) - hdr) / 8
	w := hdr + 8*r.IntN(words)
	off := uint64(uint32(int32(r.IntN(17)-8)) << 2)
	var v uint64
	switch r.IntN(7) {
	case 0:
		frame[hdr+r.IntN(len(frame)-hdr)] = byte(r.Uint32())
		return
	case 1:
		frame[w+r.IntN(8)] ^= 1 << r.IntN(8)
		return
	case 2: // struct pointer
		v = off | uint64(r.IntN(12))<<32 | uint64(r.IntN(5))<<48
	case 3: // list pointer
		v = 1 | off | uint64(r.IntN(8))<<32 | uint64(r.IntN(40))<<35
	case 4: // far pointer
		v = 2 | uint64(r.IntN(2))<<2 | uint64(r.IntN(words+2))<<3 | uint64(r.IntN(3))<<32
	case 5: // capability or other
		v = 3 | uint64(r.Uint32())<<2
	case 6:
		v = r.Uint64()
	}
	binary.LittleEndian.PutUint64(frame[w:], v)
}

// decDiffCheck is the body of FuzzDecodeEvent.
func decDiffCheck(t *testing.T, frame []byte) {
	t.Helper()
	orig := bytes.Clone(frame)
	var ev Event
	err := DecodeEvent(frame, &ev)
	if !bytes.Equal(frame, orig) {
		t.Fatalf("DecodeEvent changed its input")
	}
	var fe *FrameError
	var ie *InvalidError
	if err != nil && !errors.As(err, &fe) && !errors.As(err, &ie) {
		t.Fatalf("untyped error %v", err)
	}
	eid, seq, kind, perr := PeekEvent(frame)
	if (perr == nil) != (err == nil) || (err == nil && (eid != ev.EmitterID || seq != ev.Seq || kind != ev.Kind)) {
		t.Fatalf("PeekEvent disagrees; got %x %d %v %v; DecodeEvent gave %+v %v", eid, seq, kind, perr, ev, err)
	}

	if n, ferr := FrameSize(frame, math.MaxInt); ferr != nil || n != len(frame) {
		if fe == nil {
			t.Fatalf("frame of %d bytes, table says %d (%v); got %v; want a FrameError", len(frame), n, ferr, err)
		}
		return
	}
	if fe != nil {
		t.Fatalf("FrameError %v for a frame whose table matches its length", err)
	}

	ref, panicked, refErr := decReference(frame)
	if panicked {
		// A go-capnp bug, not ours; DecodeEvent's own checks above ran.
		return
	}
	switch {
	case refErr == nil && err == nil:
		if !decSameEvent(ev, ref) {
			t.Fatalf("events differ;\ngot  %+v;\nwant %+v", ev, ref)
		}
	case refErr == nil:
		if !decStricter[ie.Reason] {
			t.Fatalf("rejected what the reference accepts (%+v) for a reason that is not a documented stricter rule: %v", ref, err)
		}
		if ie.Reason == ReasonUTF8 && decAllUTF8(&ref) {
			t.Fatalf("rejected for UTF-8 but the reference's texts are all valid: %+v", ref)
		}
	case err == nil && len(frame) <= decRefLimit:
		t.Fatalf("accepted what the reference rejects (%v): %+v", refErr, ev)
	}
}

func decReference(frame []byte) (ev Event, panicked bool, err error) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	ev, err = DecodeEventCapnp(frame)
	return ev, false, err
}

func decAllUTF8(ev *Event) bool {
	texts := []string{ev.Inference.ModelID, ev.Inference.ModelContainerID, ev.Inference.Backend,
		ev.Lifecycle.ModelID, ev.Lifecycle.Hostname, ev.Lifecycle.Endpoint}
	is, sr, pr, dl := &ev.InstanceState, &ev.SetupRun, &ev.Prediction, &ev.Download
	texts = append(texts, sliceOf(is.texts())...)
	texts = append(texts, sr.Logs, sr.DeploymentKey, sr.InstanceID)
	texts = append(texts, sliceOf(pr.texts())...)
	texts = append(texts, sliceOf(dl.texts())...)
	for _, ls := range [][]Label{is.InstanceMetadata, sr.InstanceMetadata, sr.RuntimeMetadata, pr.Attributes} {
		for _, l := range ls {
			texts = append(texts, l.Key, l.Value)
		}
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func sliceOf[A ~[4]string | ~[5]string | ~[6]string](a A) []string {
	switch a := any(a).(type) {
	case [4]string:
		return a[:]
	case [5]string:
		return a[:]
	case [6]string:
		return a[:]
	}
	return nil
}
