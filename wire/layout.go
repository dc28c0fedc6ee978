package wire

import "encoding/binary"

// This file is the one description of the Cap'n Proto layout that readout's
// hand-written codecs share (decode.go, encode.go, batch_fast.go, ack.go and
// each kind's file): the pointer word, and per struct of
// schema/events.capnp the size of its sections, the byte offset of each
// data field and the index of each pointer field, as the generated
// accessors in schema/events.capnp.go name them. The union members'
// tables sit in their kinds' files (inference.go, lifecycle.go). The tests
// that compare every codec with go-capnp byte for byte and value for value
// check these tables.

// le keeps the field reads and writes short.
var le = binary.LittleEndian

// pointer is one Cap'n Proto pointer word. Its low two bits are its kind;
// the other bits depend on the kind:
//
//	struct: bits 2..31 the target's signed word offset from the end of the
//	        pointer, 32..47 the data section's words, 48..63 the pointers
//	list:   bits 2..31 the offset, 32..34 the element size code, 35..63
//	        the element count
//	far:    bit 2 double-far, bits 3..31 the landing pad's word offset in
//	        its segment, 32..63 that segment's id
//
// A zero word is the null pointer (a struct pointer with nothing in it).
type pointer uint64

// Pointer kinds, the low two bits of a pointer word.
const (
	ptrStruct = 0
	ptrList   = 1
	ptrFar    = 2
	ptrOther  = 3 // capabilities, and anything a later spec adds
)

// byteElems is the element size code of a list of bytes (Data and Text).
const byteElems = 2

// maxListElems is the largest element count a list pointer can hold.
const maxListElems = 1<<29 - 1

// frameHeader is the segment table of a single-segment message.
const frameHeader = 8

// structPointer is a struct pointer to a struct off words after the end of
// the pointer, with the given section sizes.
func structPointer(off, dataWords, ptrWords int) pointer {
	return pointer(uint32(off)<<2) | pointer(dataWords)<<32 | pointer(ptrWords)<<48
}

// byteListPointer is a list pointer to n bytes off words after the end of
// the pointer.
func byteListPointer(off, n int) pointer {
	return pointer(uint32(off)<<2|ptrList) | byteElems<<32 | pointer(n)<<35
}

// readPointer reads the pointer word at the start of b.
func readPointer(b []byte) pointer { return pointer(le.Uint64(b)) }

// putPointer writes p at the start of b.
func putPointer(b []byte, p pointer) { le.PutUint64(b, uint64(p)) }

func (p pointer) kind() uint64 { return uint64(p) & 3 }

// offset is a struct or list pointer's signed offset in words from the end
// of the pointer to its target.
func (p pointer) offset() int64 { return int64(int32(uint32(p)) >> 2) }

// withOffset is p with its offset field set to off words.
func (p pointer) withOffset(off int64) pointer {
	return p&^0xfffffffc | pointer(uint32(off)<<2)
}

// dataWords and ptrWords are a struct pointer's section sizes.
func (p pointer) dataWords() int { return int(uint16(p >> 32)) }
func (p pointer) ptrWords() int  { return int(uint16(p >> 48)) }

// elemSize and listLen are a list pointer's element size code and count.
func (p pointer) elemSize() uint64 { return uint64(p>>32) & 7 }
func (p pointer) listLen() int     { return int(p >> 35) }

// isByteList reports whether p is a list pointer to bytes, as Data and Text
// are (a null pointer is not).
func (p pointer) isByteList() bool { return p&(3|7<<32) == ptrList|byteElems<<32 }

// farDouble, farPad and farSegment are a far pointer's fields: whether its
// landing pad is two words (double-far), the pad's word offset, and the
// pad's segment.
func (p pointer) farDouble() bool    { return p&4 != 0 }
func (p pointer) farPad() int64      { return int64(uint32(p) >> 3) }
func (p pointer) farSegment() uint32 { return uint32(p >> 32) }

// Event (schema.Event), the envelope of every message.
const (
	eventDataWords = 4
	eventPtrWords  = 3

	eventTimestampNs  = 0 // data section byte offsets
	eventSeq          = 8
	eventDroppedTotal = 16
	eventWhich        = 24 // the union discriminant, a Kind

	eventIDPtr        = 0 // pointer indexes
	eventEmitterIDPtr = 1
	eventMemberPtr    = 2 // the union member's struct
)

// Ack (schema.Ack), the forwarder's acknowledgement to an emitter.
const (
	ackDataWords = 2
	ackPtrWords  = 0

	ackDurableSeq = 0 // data section byte offsets
	ackClosedByte = 8 // closed is bit 64: bit 0 of byte 8
	ackClosedBit  = 0
)

// Batch (schema.Batch), the body of a POST /v1/batches request.
const (
	batchDataWords = 3
	batchPtrWords  = 2

	batchBatchSeq   = 0 // data section byte offsets
	batchCreatedNs  = 8
	batchEventCount = 16

	batchForwarderIDPtr = 0 // pointer indexes
	batchEventsPtr      = 1
)
