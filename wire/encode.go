package wire

import (
	"encoding/binary"
	"math"
)

// The fast encoder below writes the Cap'n Proto wire format by hand, because
// go-capnp's generated setters cost several hundred nanoseconds and a few
// allocations per event, which is more than the emitter's writer can afford
// at a million events a second. The layout follows schema/events.capnp.go
// (the generated accessors name every byte offset and bit number) and the
// allocation order go-capnp uses, so both encoders produce the same bytes for
// the same event. EncodeEventCapnp stays the reference the tests compare to.

// Struct sizes, in 8-byte words, from the generated ObjectSize values.
const (
	eventDataWords     = 4 // Event: 32 data bytes
	eventPtrWords      = 3 // id, emitterId, union member
	inferenceDataWords = 10
	inferencePtrWords  = 3 // modelId, modelContainerId, backend
	lifecycleDataWords = 3
	lifecyclePtrWords  = 2 // modelId, hostname

	// frameHeader is the segment table of a single-segment message.
	frameHeader = 8
	// maxListElems is the largest element count a list pointer can hold.
	maxListElems = 1<<29 - 1
)

// EncodedSize returns how many bytes AppendEvent will append for ev.
func EncodedSize(ev *Event) int {
	return frameHeader + 8*segmentWords(ev)
}

// segmentWords is the size of ev's only segment: root pointer, Event struct,
// the two ids, and the union member with its texts.
func segmentWords(ev *Event) int {
	n := 1 + eventDataWords + eventPtrWords
	if ev.ID != ([16]byte{}) {
		n += 2
	}
	if ev.EmitterID != ([16]byte{}) {
		n += 2
	}
	switch ev.Kind {
	case KindInference:
		v := &ev.Inference
		n += inferenceDataWords + inferencePtrWords +
			textWords(v.ModelID) + textWords(v.ModelContainerID) + textWords(v.Backend)
	case KindLifecycle:
		v := &ev.Lifecycle
		n += lifecycleDataWords + lifecyclePtrWords + textWords(v.ModelID) + textWords(v.Hostname)
	}
	return n
}

// textWords is the size of a Text list: the bytes, a NUL, padded to words.
// An empty string is a null pointer and takes no space.
func textWords(s string) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n > maxListElems-1 {
		n = maxListElems - 1
	}
	return (n + 1 + 7) / 8
}

// AppendEvent appends ev to dst as one stream-framed, single-segment Cap'n
// Proto Event message and returns the extended slice. It allocates only when
// dst lacks the capacity (EncodedSize tells how much is needed). A zero ID or
// EmitterID and empty strings are written as null pointers, as go-capnp does
// for absent fields. An unknown Kind is written as that union discriminant
// with no member, which decoders reject; strings longer than a Cap'n Proto
// list can hold (512 MiB) are truncated to that limit.
func AppendEvent(dst []byte, ev *Event) []byte {
	words := segmentWords(ev)
	size := frameHeader + 8*words
	start := len(dst)
	if cap(dst)-start < size {
		grown := make([]byte, start, start+size+(start+size)/4)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+size]
	b := dst[start:]
	clear(b)

	binary.LittleEndian.PutUint32(b[0:], 0) // segment count - 1
	binary.LittleEndian.PutUint32(b[4:], uint32(words))
	seg := b[frameHeader:]

	// Word 0 is the root pointer to the Event struct in words 1..7.
	const evData = 1
	const evPtrs = evData + eventDataWords
	putStructPtr(seg, 0, evData, eventDataWords, eventPtrWords)
	d := seg[8*evData:]
	binary.LittleEndian.PutUint64(d[0:], uint64(ev.TimestampNs))
	binary.LittleEndian.PutUint64(d[8:], ev.Seq)
	binary.LittleEndian.PutUint64(d[16:], ev.DroppedTotal)
	binary.LittleEndian.PutUint16(d[24:], uint16(ev.Kind))

	next := evPtrs + eventPtrWords // first free word
	if ev.ID != ([16]byte{}) {
		next = putData(seg, evPtrs+0, next, ev.ID[:])
	}
	if ev.EmitterID != ([16]byte{}) {
		next = putData(seg, evPtrs+1, next, ev.EmitterID[:])
	}

	switch ev.Kind {
	case KindInference:
		v := &ev.Inference
		in := next
		ptrs := in + inferenceDataWords
		putStructPtr(seg, evPtrs+2, in, inferenceDataWords, inferencePtrWords)
		next = ptrs + inferencePtrWords
		d := seg[8*in:]
		binary.LittleEndian.PutUint64(d[0:], v.AccountID)
		binary.LittleEndian.PutUint64(d[8:], v.RequestTimeUs)
		binary.LittleEndian.PutUint64(d[16:], v.InferenceTimeUs)
		binary.LittleEndian.PutUint64(d[24:], v.QueuingTimeUs)
		binary.LittleEndian.PutUint64(d[32:], v.TimeToFirstTokenUs)
		binary.LittleEndian.PutUint64(d[40:], math.Float64bits(v.Neurons))
		binary.LittleEndian.PutUint32(d[48:], v.ErrorCode)
		binary.LittleEndian.PutUint16(d[52:], v.HTTPStatus)
		binary.LittleEndian.PutUint16(d[54:], uint16(v.RequestSource))
		binary.LittleEndian.PutUint32(d[56:], v.ColoID)
		binary.LittleEndian.PutUint32(d[60:], v.SourceColoID)
		binary.LittleEndian.PutUint32(d[64:], v.LocalQueueSize)
		// Bits 544..548: byte 68, bits 0..4.
		d[68] = bit(v.Streamed, 0) | bit(v.Beta, 1) | bit(v.ExternalEndpoint, 2) |
			bit(v.QueuedInColo, 3) | bit(v.UnixSocket, 4)
		binary.LittleEndian.PutUint32(d[72:], v.InputTokens)
		binary.LittleEndian.PutUint32(d[76:], v.OutputTokens)
		next = putText(seg, ptrs+0, next, v.ModelID)
		next = putText(seg, ptrs+1, next, v.ModelContainerID)
		putText(seg, ptrs+2, next, v.Backend)
	case KindLifecycle:
		v := &ev.Lifecycle
		lc := next
		ptrs := lc + lifecycleDataWords
		putStructPtr(seg, evPtrs+2, lc, lifecycleDataWords, lifecyclePtrWords)
		next = ptrs + lifecyclePtrWords
		d := seg[8*lc:]
		binary.LittleEndian.PutUint64(d[0:], uint64(v.BeginTs))
		binary.LittleEndian.PutUint64(d[8:], uint64(v.EndTs))
		binary.LittleEndian.PutUint16(d[16:], uint16(v.EventType))
		next = putText(seg, ptrs+0, next, v.ModelID)
		putText(seg, ptrs+1, next, v.Hostname)
	}
	return dst
}

func bit(v bool, n uint) byte {
	if v {
		return 1 << n
	}
	return 0
}

// putStructPtr writes, at word ptr, a struct pointer to the struct at word
// target. Offsets count words from the end of the pointer.
func putStructPtr(seg []byte, ptr, target, dataWords, ptrWords int) {
	off := uint64(uint32(target-ptr-1) << 2) // kind 0: struct
	binary.LittleEndian.PutUint64(seg[8*ptr:], off|uint64(dataWords)<<32|uint64(ptrWords)<<48)
}

// putListPtr writes a byte-list pointer (element size code 2) at word ptr.
func putListPtr(seg []byte, ptr, target, n int) {
	off := uint64(uint32(target-ptr-1)<<2 | 1) // kind 1: list
	binary.LittleEndian.PutUint64(seg[8*ptr:], off|2<<32|uint64(n)<<35)
}

// putData writes p as a Data list at word next, points word ptr at it, and
// returns the next free word.
func putData(seg []byte, ptr, next int, p []byte) int {
	putListPtr(seg, ptr, next, len(p))
	copy(seg[8*next:], p)
	return next + (len(p)+7)/8
}

// putText writes s with its NUL terminator as a Text list at word next, or
// leaves a null pointer for "", and returns the next free word.
func putText(seg []byte, ptr, next int, s string) int {
	if s == "" {
		return next
	}
	if len(s) > maxListElems-1 {
		s = s[:maxListElems-1]
	}
	putListPtr(seg, ptr, next, len(s)+1)
	copy(seg[8*next:], s) // the NUL is already there: the segment was cleared
	return next + (len(s)+1+7)/8
}
