package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ledger's binary form, for the collector's checkpoint (little-endian,
// varints as encoding/binary). Version 2, written since the ingest clock,
// the dedupe floor and the emitter caps:
//
//	uvarint  E, then E emitters:
//	         [16]byte id, [16]byte forwarder id
//	         uvarint first seq, last seq, dropped, dropped below, floor
//	         varint received, undeduped, duplicates, last seen (wall
//	         Unix ns), active (ingest clock ns)
//	         u8 closed
//	         uvarint R, then R ranges: uvarint Lo - previous Hi, uvarint Hi - Lo
//	varint   untracked events, duplicates, final messages, last seen
//
// Version 1 (read only, to upgrade) has no forwarder id, dropped below,
// floor, undeduped or active, and no untracked totals:
//
//	         [16]byte id
//	         uvarint first seq, last seq, dropped; varint received,
//	         duplicates, last seen; u8 closed; ranges as above
//
// Ranges are sorted, disjoint and non-adjacent, so every delta after the
// first is at least 2 and the decoder can check it.

// BinaryVersion is the version AppendBinary writes.
const BinaryVersion = 2

// The fewest bytes an emitter takes: ids, one-byte varints, the closed
// flag and a range count of zero.
var minEmitterBytes = [...]int{1: 16 + 6 + 1 + 1, 2: 32 + 10 + 1 + 1}

// ErrBinary is wrapped by every error ReadBinary returns.
var ErrBinary = errors.New("malformed ledger")

// AppendBinary appends the ledger's binary form (BinaryVersion) to dst.
func (l *Ledger) AppendBinary(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l.Emitters)))
	for id, e := range l.Emitters {
		dst = append(dst, id[:]...)
		dst = append(dst, e.Forwarder[:]...)
		for _, v := range [...]uint64{e.FirstSeq, e.LastSeq, e.Dropped, e.DroppedBelow, e.Floor} {
			dst = binary.AppendUvarint(dst, v)
		}
		for _, v := range [...]int64{e.Received, e.Undeduped, e.Duplicates, e.LastSeenNs, e.ActiveNs} {
			dst = binary.AppendVarint(dst, v)
		}
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
	u := l.Untracked
	for _, v := range [...]int64{u.Events, u.Duplicates, u.Closed, u.LastSeenNs} {
		dst = binary.AppendVarint(dst, v)
	}
	return dst
}

// ReadBinary decodes a ledger of the given version from the start of b and
// returns it with the bytes after it. Errors wrap ErrBinary.
func ReadBinary(b []byte, version int) (*Ledger, []byte, error) {
	fail := func(what string) (*Ledger, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrBinary, what)
	}
	if version != 1 && version != 2 {
		return fail(fmt.Sprintf("version %d", version))
	}
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	n := uv()
	if bad || n > uint64(len(b)/minEmitterBytes[version]) {
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
		if version == 1 {
			e.FirstSeq, e.LastSeq, e.Dropped = uv(), uv(), uv()
			e.Received, e.Duplicates, e.LastSeenNs = sv(), sv(), sv()
			// Before the ingest clock, expiry ran on arrival times.
			e.ActiveNs = e.LastSeenNs
		} else {
			if len(b) < 16 {
				return fail("truncated emitter")
			}
			copy(e.Forwarder[:], b)
			b = b[16:]
			e.FirstSeq, e.LastSeq, e.Dropped, e.DroppedBelow, e.Floor = uv(), uv(), uv(), uv(), uv()
			e.Received, e.Undeduped, e.Duplicates, e.LastSeenNs, e.ActiveNs = sv(), sv(), sv(), sv(), sv()
		}
		if bad || len(b) == 0 || b[0] > 1 {
			return fail("bad emitter fields")
		}
		e.Closed = b[0] == 1
		b = b[1:]
		nr := uv()
		if bad || nr > MaxRanges || nr > uint64(len(b)/2) {
			return fail("bad range count")
		}
		if nr > 0 {
			e.Seqs = make(Ranges, 0, nr)
		}
		var prev uint64
		for i := uint64(0); i < nr; i++ {
			d, span := uv(), uv()
			lo := prev + d
			hi := lo + span
			if bad || lo < prev || hi < lo || (i > 0 && d < 2) {
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
	if version >= 2 {
		u := &l.Untracked
		u.Events, u.Duplicates, u.Closed, u.LastSeenNs = sv(), sv(), sv(), sv()
		if bad {
			return fail("bad untracked totals")
		}
	}
	l.recount()
	return l, b, nil
}
