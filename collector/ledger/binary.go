package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ledger's binary form, for the collector's checkpoint (little-endian,
// varints as encoding/binary):
//
//	uvarint  E, then E emitters:
//	         [16]byte id
//	         uvarint first seq, last seq, dropped; varint received,
//	         duplicates, last seen (Unix ns); u8 closed
//	         uvarint R, then R ranges: uvarint Lo - previous Hi, uvarint Hi - Lo
//
// Ranges are sorted, disjoint and non-adjacent, so every delta after the
// first is at least 2 and the decoder can check it.

const minEmitterBytes = 16 + 6 + 1 + 1

// ErrBinary is wrapped by every error ReadBinary returns.
var ErrBinary = errors.New("malformed ledger")

// AppendBinary appends the ledger's binary form to dst.
func (l *Ledger) AppendBinary(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l.Emitters)))
	for id, e := range l.Emitters {
		dst = append(dst, id[:]...)
		dst = binary.AppendUvarint(dst, e.FirstSeq)
		dst = binary.AppendUvarint(dst, e.LastSeq)
		dst = binary.AppendUvarint(dst, e.Dropped)
		dst = binary.AppendVarint(dst, e.Received)
		dst = binary.AppendVarint(dst, e.Duplicates)
		dst = binary.AppendVarint(dst, e.LastSeenNs)
		closed := byte(0)
		if e.Closed {
			closed = 1
		}
		dst = append(dst, closed)
		dst = binary.AppendUvarint(dst, uint64(len(e.Seqs)))
		var prev uint64
		for _, r := range e.Seqs {
			dst = binary.AppendUvarint(dst, r.Lo-prev)
			dst = binary.AppendUvarint(dst, r.Hi-r.Lo)
			prev = r.Hi
		}
	}
	return dst
}

// ReadBinary decodes a ledger from the start of b and returns it with the
// bytes after it. Errors wrap ErrBinary.
func ReadBinary(b []byte) (*Ledger, []byte, error) {
	fail := func(what string) (*Ledger, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrBinary, what)
	}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	n, ok := uv()
	// An emitter takes at least 24 bytes: its id, six one-byte varints,
	// the closed flag and a range count of zero.
	if !ok || n > uint64(len(b)/minEmitterBytes) {
		return fail("bad emitter count")
	}
	l := &Ledger{Emitters: make(map[[16]byte]*Emitter, n)}
	for ; n > 0; n-- {
		if len(b) < 16 {
			return fail("truncated emitter")
		}
		var id [16]byte
		copy(id[:], b)
		b = b[16:]
		e := &Emitter{}
		var oks [7]bool
		e.FirstSeq, oks[0] = uv()
		e.LastSeq, oks[1] = uv()
		e.Dropped, oks[2] = uv()
		e.Received, oks[3] = sv()
		e.Duplicates, oks[4] = sv()
		e.LastSeenNs, oks[5] = sv()
		oks[6] = len(b) > 0 && b[0] <= 1
		if oks != [7]bool{true, true, true, true, true, true, true} {
			return fail("bad emitter fields")
		}
		e.Closed = b[0] == 1
		b = b[1:]
		nr, ok := uv()
		if !ok || nr > MaxRanges || nr > uint64(len(b)/2) {
			return fail("bad range count")
		}
		if nr > 0 {
			e.Seqs = make(Ranges, 0, nr)
		}
		var prev uint64
		for i := uint64(0); i < nr; i++ {
			d, ok1 := uv()
			span, ok2 := uv()
			lo := prev + d
			hi := lo + span
			if !ok1 || !ok2 || lo < prev || hi < lo || (i > 0 && d < 2) {
				return fail("bad range")
			}
			e.Seqs = append(e.Seqs, Range{lo, hi})
			prev = hi
		}
		if _, dup := l.Emitters[id]; dup {
			return fail("duplicate emitter")
		}
		l.Emitters[id] = e
	}
	return l, b, nil
}
