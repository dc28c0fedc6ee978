package wire

import (
	"math"
	"unicode/utf8"
	"unsafe"
)

// The fast decoder below reads the Cap'n Proto wire format by hand, because
// go-capnp's generated readers allocate a Message per event and cost several
// times what the forwarder and collector can afford at a million or more
// events a second per core. It follows the encoding spec rather than the
// layout our encoders happen to produce: it reads the root pointer, honours
// the struct sizes found in pointers (older writers with smaller structs,
// newer ones with bigger structs), treats null pointers as absent and follows
// far pointers, including across segments. DecodeEventCapnp stays the
// reference it is fuzzed against.
//
// It follows only the pointers the schema defines, each once (root, id,
// emitterId, the union member and its texts), so the work per message is
// bounded by a constant plus the length of the texts, whatever the message
// claims, and nothing can loop.
//
// It is stricter than the reference in a few documented ways, so that what
// the forwarder accepts the collector can always store:
//   - a pointer of the wrong kind (a list where a struct belongs, a struct or
//     capability where Data or Text belongs) is rejected ("pointer"), where
//     go-capnp reads it as the default;
//   - a Data or Text list whose elements are not bytes is rejected ("list");
//   - a Text that is not NUL-terminated is rejected ("text"), as the C++
//     implementation does;
//   - Text that is not valid UTF-8 is rejected ("utf8"): Cap'n Proto does not
//     require it, but the collector writes these fields as Parquet strings,
//     which must be UTF-8, so the forwarder must not accept what the
//     collector cannot store;
//   - the frame must be exactly as long as its segment table says, with at
//     most MaxSegments segments (a *FrameError otherwise);
//   - a List(Label) must be a composite list of at most MaxLabels elements
//     that fit in the words its pointer claims ("list"), where go-capnp
//     also reads other list kinds and checks elements against the segment
//     only.
//
// Both decoders then apply the value rules of values.go ("value").
//
// The one way it is more lenient: go-capnp's traversal limit refuses a frame
// whose pointers point at the same bytes over and over once the total passes
// 4*MaxMessageSize; DecodeEvent visits each pointer once whatever the
// targets, so it needs no such limit (frames under 32 KiB cannot reach it).

// Reasons carried by the *InvalidError values DecodeEvent returns, besides
// "union", "id" and "emitter_id" which it shares with DecodeEventCapnp.
const (
	// ReasonPointer: a pointer of the wrong kind for its field, or a
	// malformed far pointer.
	ReasonPointer = "pointer"
	// ReasonBounds: a pointer whose target lies outside its segment, or a
	// message with no root pointer.
	ReasonBounds = "bounds"
	// ReasonList: a Data or Text list whose elements are not bytes.
	ReasonList = "list"
	// ReasonText: a Text that is not NUL-terminated (an empty list
	// included: the empty string is a single NUL or a null pointer).
	ReasonText = "text"
	// ReasonUTF8: a Text that is not valid UTF-8.
	ReasonUTF8 = "utf8"
)

// decSpan is a segment: absolute byte offsets into the frame.
type decSpan struct{ lo, hi int }

// decStruct is a struct found in the frame. Reads beyond its data section
// or pointer section yield zero values and null pointers, as the spec says
// (see decEventFields and structPtr).
type decStruct struct {
	seg  decSpan
	data []byte // the data section
	ptrs int    // absolute offset of the pointer section
	nptr int
}

// decEventFields returns the first bytes of a data section as an array,
// zero-padded into pad when the section is shorter: fields a writer's older
// schema lacked read as 0. Reading through a fixed-size array lets the
// compiler drop per-field bounds checks on the hot path. Each kind's file
// has the same for its member struct.
func decEventFields(data []byte, pad *[8 * eventDataWords]byte) *[8 * eventDataWords]byte {
	if len(data) >= len(pad) {
		return (*[8 * eventDataWords]byte)(data)
	}
	copy(pad[:], data)
	return pad
}

// decReader reads one validated frame.
type decReader struct {
	frame []byte
	nseg  int
	hdr   int // size of the segment table
	seg0  decSpan
}

// DecodeEvent decodes and validates one stream-framed Event message (a whole
// frame, as FrameSize delimits it) into ev, overwriting every field. Strings
// in ev alias frame (zero-copy) and are valid only while frame is unchanged:
// callers copy what they keep. It does not allocate unless it fails, and
// after a failure ev holds no meaningful value.
//
// Framing problems are a *FrameError; anything else wrong is an
// *InvalidError whose Reason is "union", "id", "emitter_id" or one of the
// Reason constants above. It accepts every message DecodeEventCapnp accepts,
// with the same result, except where the comment at the top of this file
// says it is stricter.
func DecodeEvent(frame []byte, ev *Event) error {
	labels := ev.labels[:0]
	*ev = Event{labels: labels}
	r, err := decOpen(frame)
	if err != nil {
		return err
	}
	root, err := r.root()
	if err != nil {
		return err
	}
	id, err := r.bytesPtr(&root, eventIDPtr)
	if err != nil {
		return err
	}
	if err := decID(&ev.ID, id, "id"); err != nil {
		return err
	}
	eid, err := r.bytesPtr(&root, eventEmitterIDPtr)
	if err != nil {
		return err
	}
	if err := decID(&ev.EmitterID, eid, "emitter_id"); err != nil {
		return err
	}
	var pad [8 * eventDataWords]byte
	d := decEventFields(root.data, &pad)
	ev.TimestampNs = int64(le.Uint64(d[eventTimestampNs:]))
	ev.Seq = le.Uint64(d[eventSeq:])
	ev.DroppedTotal = le.Uint64(d[eventDroppedTotal:])
	if err := r.member(&root, Kind(le.Uint16(d[eventWhich:])), ev); err != nil {
		return err
	}
	return checkValues(ev)
}

// PeekEvent validates frame exactly as DecodeEvent does and returns what
// the forwarder routes on, without keeping anything that aliases frame.
func PeekEvent(frame []byte) (emitterID [16]byte, seq uint64, kind Kind, err error) {
	var ev Event
	err = DecodeEvent(frame, &ev)
	return ev.EmitterID, ev.Seq, ev.Kind, err
}

func decID(dst *[16]byte, b []byte, reason string) error {
	switch len(b) {
	case 0:
		return nil
	case 16:
		*dst = [16]byte(b)
		return nil
	}
	return decIDError(reason, len(b))
}

//go:noinline
func decIDError(reason string, n int) error {
	return invalid(reason, "%d bytes, want 16 or none", n)
}

// decOpen checks the frame's segment table against its length.
func decOpen(frame []byte) (decReader, error) {
	// One segment is by far the common case: skip the general walk.
	if len(frame) >= 8 && le.Uint32(frame) == 0 {
		if n := 8 + 8*uint64(le.Uint32(frame[4:])); n != uint64(len(frame)) || n == 8 {
			return decReader{}, decFrameSizeError(frame)
		}
		return decReader{frame: frame, nseg: 1, hdr: 8, seg0: decSpan{8, len(frame)}}, nil
	}
	if err := decFrameSizeError(frame); err != nil {
		return decReader{}, err
	}
	hs, _ := HeaderSize(frame) // FrameSize already checked it
	r := decReader{frame: frame, nseg: int(le.Uint32(frame)) + 1, hdr: hs}
	r.seg0, _ = r.segment(0)
	return r, nil
}

// decFrameSizeError returns the *FrameError for a frame whose length does
// not match its segment table, or nil if it matches.
func decFrameSizeError(frame []byte) error {
	n, err := FrameSize(frame, math.MaxInt)
	switch {
	case err == ErrShortFrame:
		return &FrameError{Reason: "truncated", Detail: "frame shorter than its segment table"}
	case err != nil:
		return err
	case n > len(frame):
		return &FrameError{Reason: "truncated", Detail: "segment table says more bytes than the frame holds"}
	case n < len(frame):
		return &FrameError{Reason: "trailing", Detail: "frame longer than its segment table says"}
	}
	return nil
}

// segment returns segment id, or false if the message has no such segment.
func (r *decReader) segment(id uint32) (decSpan, bool) {
	if uint64(id) >= uint64(r.nseg) {
		return decSpan{}, false
	}
	lo := r.hdr
	for i := 0; i < int(id); i++ {
		lo += 8 * int(le.Uint32(r.frame[4+4*i:]))
	}
	return decSpan{lo, lo + 8*int(le.Uint32(r.frame[4+4*int(id):]))}, true
}

// far replaces a far pointer by the pointer in its landing pad, with the
// segment and base address that pointer's target is relative to. As in the
// spec and in go-capnp, a double-far landing pad is a far pointer to the
// content and a tag word with offset 0, and the content starts where the
// far pointer says.
func (r *decReader) far(p pointer) (pointer, decSpan, int, error) {
	padSeg, ok := r.segment(p.farSegment())
	if !ok {
		return 0, decSpan{}, 0, invalid(ReasonPointer, "far pointer to segment %d of %d", p.farSegment(), r.nseg)
	}
	// Word offsets reach 2^32 bytes: compute in 64 bits whatever int is.
	padOff := p.farPad() * 8
	padLen := int64(8)
	if p.farDouble() {
		padLen = 16
	}
	if padOff+padLen > int64(padSeg.hi-padSeg.lo) {
		return 0, decSpan{}, 0, invalid(ReasonBounds, "far pointer landing pad outside its segment")
	}
	pad := padSeg.lo + int(padOff)
	if !p.farDouble() {
		land := readPointer(r.frame[pad:])
		if land.kind() == ptrFar {
			return 0, decSpan{}, 0, invalid(ReasonPointer, "far pointer landing pad is a far pointer")
		}
		return land, padSeg, pad + 8, nil
	}
	far := readPointer(r.frame[pad:])
	tag := readPointer(r.frame[pad+8:])
	if far.kind() != ptrFar || far.farDouble() {
		return 0, decSpan{}, 0, invalid(ReasonPointer, "double-far landing pad does not start with a far pointer")
	}
	if k := tag.kind(); (k != ptrStruct && k != ptrList) || tag.offset() != 0 {
		return 0, decSpan{}, 0, invalid(ReasonPointer, "double-far tag is not a struct or list with offset 0")
	}
	target, ok := r.segment(far.farSegment())
	if !ok {
		return 0, decSpan{}, 0, invalid(ReasonPointer, "far pointer to segment %d of %d", far.farSegment(), r.nseg)
	}
	// The tag with the content's word offset in its offset field, counted
	// from the start of the content's segment.
	return tag.withOffset(far.farPad()), target, target.lo, nil
}

// decTarget resolves the signed word offset of a near pointer against base
// and returns it if size bytes from there lie inside seg, or -1.
func decTarget(p pointer, seg decSpan, base, size int) int {
	// Offsets reach ±2^32 bytes: compute in 64 bits whatever int is.
	addr := int64(base) + 8*p.offset()
	if addr < int64(seg.lo) || addr > int64(seg.hi) || int64(size) > int64(seg.hi)-addr {
		return -1
	}
	return int(addr)
}

// root reads the root pointer, the first word of segment 0, as if it were
// the only pointer of a struct.
func (r *decReader) root() (decStruct, error) {
	if r.seg0.hi-r.seg0.lo < 8 {
		return decStruct{}, invalid(ReasonBounds, "message has no root pointer")
	}
	return r.structPtr(&decStruct{seg: r.seg0, ptrs: r.seg0.lo, nptr: 1}, 0)
}

// structPtr reads pointer i of parent as a struct; null reads as a struct
// with every field at its default. Near pointers are resolved inline and
// far ones by far: each field costs one call on the hot path.
func (r *decReader) structPtr(parent *decStruct, i int) (decStruct, error) {
	if i >= parent.nptr {
		return decStruct{}, nil
	}
	seg, at := parent.seg, parent.ptrs+8*i
	p := readPointer(r.frame[at:])
	base := at + 8
	if p.kind() == ptrFar {
		var err error
		if p, seg, base, err = r.far(p); err != nil {
			return decStruct{}, err
		}
	}
	if p.kind() != ptrStruct {
		return decStruct{}, decKindError(p, "a struct")
	}
	if p == 0 {
		return decStruct{}, nil
	}
	dataLen := 8 * p.dataWords()
	nptr := p.ptrWords()
	addr := decTarget(p, seg, base, dataLen+8*nptr)
	if addr < 0 {
		return decStruct{}, decBoundsError()
	}
	return decStruct{
		seg:  seg,
		data: r.frame[addr : addr+dataLen : addr+dataLen],
		ptrs: addr + dataLen,
		nptr: nptr,
	}, nil
}

// bytesPtr reads pointer i of parent as a list of bytes (element size code
// 2), as Data and Text are. Null reads as nil, an empty list as empty but
// not nil.
func (r *decReader) bytesPtr(parent *decStruct, i int) ([]byte, error) {
	if i >= parent.nptr {
		return nil, nil
	}
	seg, at := parent.seg, parent.ptrs+8*i
	p := readPointer(r.frame[at:])
	base := at + 8
	if p.kind() == ptrFar {
		var err error
		if p, seg, base, err = r.far(p); err != nil {
			return nil, err
		}
	}
	if p == 0 {
		return nil, nil
	}
	if !p.isByteList() {
		return nil, decListError(p)
	}
	n := p.listLen()
	addr := decTarget(p, seg, base, n)
	if addr < 0 {
		return nil, decBoundsError()
	}
	return r.frame[addr : addr+n : addr+n], nil
}

// text reads pointer i of parent as Text: a NUL-terminated list of bytes,
// which readout also requires to be UTF-8. The string aliases the frame.
// It repeats bytesPtr rather than calling it, to save a call per text on
// the hot path.
func (r *decReader) text(parent *decStruct, i int) (string, error) {
	if i >= parent.nptr {
		return "", nil
	}
	seg, at := parent.seg, parent.ptrs+8*i
	p := readPointer(r.frame[at:])
	base := at + 8
	if p.kind() == ptrFar {
		var err error
		if p, seg, base, err = r.far(p); err != nil {
			return "", err
		}
	}
	if p == 0 {
		return "", nil
	}
	if !p.isByteList() {
		return "", decListError(p)
	}
	n := p.listLen()
	addr := decTarget(p, seg, base, n)
	if addr < 0 {
		return "", decBoundsError()
	}
	if n == 0 || r.frame[addr+n-1] != 0 {
		return "", decTextError(n)
	}
	if n == 1 {
		return "", nil
	}
	b := r.frame[addr : addr+n-1]
	if !utf8.Valid(b) {
		return "", decUTF8Error(len(b))
	}
	return unsafe.String(&b[0], len(b)), nil
}

// The error constructors are kept out of line so the hot paths above stay
// small enough to inline and never build an error they do not return.

//go:noinline
func decKindError(p pointer, want string) error {
	return invalid(ReasonPointer, "pointer of kind %d where %s belongs", p.kind(), want)
}

//go:noinline
func decListError(p pointer) error {
	if p.kind() != ptrList {
		return decKindError(p, "Data or Text")
	}
	return invalid(ReasonList, "element size code %d where bytes belong", p.elemSize())
}

//go:noinline
func decBoundsError() error {
	return invalid(ReasonBounds, "pointer target outside its segment")
}

//go:noinline
func decTextError(n int) error {
	return invalid(ReasonText, "text of %d bytes is not NUL-terminated", n)
}

//go:noinline
func decUTF8Error(n int) error {
	return invalid(ReasonUTF8, "text of %d bytes is not valid UTF-8", n)
}
