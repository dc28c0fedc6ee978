package wire

import (
	"bytes"
	"testing"
)

// TestPointerWords checks the pointer type against the hand-built words of
// decode_test.go (decSP, decLP, decFP), written from the spec independently
// of it.
func TestPointerWords(t *testing.T) {
	for _, off := range []int{0, 1, 7, -1, -8, 1<<29 - 1, -(1 << 29)} {
		for _, sz := range [][2]int{{0, 0}, {4, 3}, {10, 3}, {0xffff, 0xffff}} {
			p := structPointer(off, sz[0], sz[1])
			if want := decSP(off, sz[0], sz[1]); uint64(p) != want {
				t.Fatalf("structPointer(%d, %d, %d) = %#x; want %#x", off, sz[0], sz[1], uint64(p), want)
			}
			if p.kind() != ptrStruct || p.offset() != int64(off) || p.dataWords() != sz[0] || p.ptrWords() != sz[1] {
				t.Fatalf("struct pointer %#x reads back as kind %d, offset %d, sizes %d, %d",
					uint64(p), p.kind(), p.offset(), p.dataWords(), p.ptrWords())
			}
		}
		for _, n := range []int{0, 1, 16, maxListElems} {
			p := byteListPointer(off, n)
			if want := decLP(off, byteElems, n); uint64(p) != want {
				t.Fatalf("byteListPointer(%d, %d) = %#x; want %#x", off, n, uint64(p), want)
			}
			if p.kind() != ptrList || !p.isByteList() || p.offset() != int64(off) || p.listLen() != n || p.elemSize() != byteElems {
				t.Fatalf("list pointer %#x reads back wrong", uint64(p))
			}
			if p.withOffset(0) != byteListPointer(0, n) {
				t.Fatalf("withOffset(0) of %#x = %#x", uint64(p), uint64(p.withOffset(0)))
			}
		}
	}
	for _, size := range []int{0, 1, 3, 4, 5, 6, 7} {
		if p := pointer(decLP(2, size, 9)); p.isByteList() != (size == byteElems) {
			t.Fatalf("list of element size code %d: isByteList %v", size, p.isByteList())
		}
	}
	for _, double := range []bool{false, true} {
		p := pointer(decFP(3, 1<<29-1, double))
		if p.kind() != ptrFar || p.farDouble() != double || p.farPad() != 1<<29-1 || p.farSegment() != 3 {
			t.Fatalf("far pointer %#x reads back as double %v, pad %d, segment %d", uint64(p), p.farDouble(), p.farPad(), p.farSegment())
		}
	}
	var b [16]byte
	putPointer(b[8:], structPointer(-2, 1, 2))
	if readPointer(b[8:]) != structPointer(-2, 1, 2) || !bytes.Equal(b[:8], make([]byte, 8)) {
		t.Fatalf("putPointer/readPointer: %x", b)
	}
}
