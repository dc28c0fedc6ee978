package wire

// The fast encoder below writes the Cap'n Proto wire format by hand, because
// go-capnp's generated setters cost several hundred nanoseconds and a few
// allocations per event, which is more than the emitter's writer can afford
// at a million events a second. The layout is layout.go's (and each kind's
// file's), and the allocation order is go-capnp's, so both encoders
// produce the same bytes for the same event. EncodeEventCapnp stays the
// reference the tests compare to.

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
	return n + memberWords(ev)
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

	le.PutUint32(b[0:], 0) // segment count - 1
	le.PutUint32(b[4:], uint32(words))
	seg := b[frameHeader:]

	// Word 0 is the root pointer to the Event struct in the words after it.
	const evData = 1
	const evPtrs = evData + eventDataWords
	putPointer(seg, structPointer(evData-1, eventDataWords, eventPtrWords))
	d := (*[8 * eventDataWords]byte)(seg[8*evData:])
	le.PutUint64(d[eventTimestampNs:], uint64(ev.TimestampNs))
	le.PutUint64(d[eventSeq:], ev.Seq)
	le.PutUint64(d[eventDroppedTotal:], ev.DroppedTotal)
	le.PutUint16(d[eventWhich:], uint16(ev.Kind))

	next := evPtrs + eventPtrWords // first free word
	if ev.ID != ([16]byte{}) {
		next = putData(seg, evPtrs+eventIDPtr, next, ev.ID[:])
	}
	if ev.EmitterID != ([16]byte{}) {
		next = putData(seg, evPtrs+eventEmitterIDPtr, next, ev.EmitterID[:])
	}
	putMember(seg, evPtrs+eventMemberPtr, next, ev)
	return dst
}

func bit(v bool, n uint) byte {
	if v {
		return 1 << n
	}
	return 0
}

// putData writes p as a Data list at word next, points word at to it, and
// returns the next free word.
func putData(seg []byte, at, next int, p []byte) int {
	putPointer(seg[8*at:], byteListPointer(next-at-1, len(p)))
	copy(seg[8*next:], p)
	return next + (len(p)+7)/8
}

// putText writes s with its NUL terminator as a Text list at word next, or
// leaves a null pointer for "", and returns the next free word.
func putText(seg []byte, at, next int, s string) int {
	if s == "" {
		return next
	}
	if len(s) > maxListElems-1 {
		s = s[:maxListElems-1]
	}
	putPointer(seg[8*at:], byteListPointer(next-at-1, len(s)+1))
	copy(seg[8*next:], s) // the NUL is already there: the segment was cleared
	return next + (len(s)+1+7)/8
}
