package collector

import (
	"encoding/binary"
	"errors"
)

// A WAL record's payload holds one batch's outcome: what the ingest loop
// accepted from it. See docs/wal-format.md.
//
//	u8       version (2)
//	[16]byte forwarder id
//	u64      batch seq
//	i64      arrival time, Unix ns (the group's commit time)
//	i64      arrival on the ingest clock, ns (version 2 only; see ingestclock.go)
//	u32      number of emitters with duplicates, then per emitter:
//	         [16]byte emitter id, u32 duplicates
//	u32      number of event frames
//	...      the accepted event frames (and closed messages) back to back,
//	         exactly as the emitters wrote them
//
// Version 1 records, written before the ingest clock, are read with the
// arrival time standing in for it.
const recordVersion = 2

// recordFixed is the size of a payload's fields other than the duplicate
// counts and the frames.
const recordFixed = 1 + 16 + 8 + 8 + 8 + 4 + 4

type dupCount struct {
	id [16]byte
	n  uint32
}

type recordHeader struct {
	forwarderID [16]byte
	batchSeq    uint64
	arrivalNs   int64
	ingestNs    int64
	dups        []dupCount
	nframes     uint32
}

func appendRecordPayload(dst []byte, h *recordHeader, frames [][]byte) []byte {
	dst = append(dst, recordVersion)
	dst = append(dst, h.forwarderID[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, h.batchSeq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.arrivalNs))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.ingestNs))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.dups)))
	for _, d := range h.dups {
		dst = append(dst, d.id[:]...)
		dst = binary.LittleEndian.AppendUint32(dst, d.n)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frames)))
	for _, f := range frames {
		dst = append(dst, f...)
	}
	return dst
}

var errRecord = errors.New("malformed record payload")

// parseRecordPayload returns the header and the frames section. dups is
// reused from h.
func parseRecordPayload(b []byte, h *recordHeader) ([]byte, error) {
	const fixed = 1 + 16 + 8 + 8
	if len(b) < fixed || (b[0] != 1 && b[0] != recordVersion) {
		return nil, errRecord
	}
	version := b[0]
	copy(h.forwarderID[:], b[1:17])
	h.batchSeq = binary.LittleEndian.Uint64(b[17:])
	h.arrivalNs = int64(binary.LittleEndian.Uint64(b[25:]))
	b = b[fixed:]
	h.ingestNs = h.arrivalNs
	if version >= 2 {
		if len(b) < 8 {
			return nil, errRecord
		}
		h.ingestNs = int64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) < 4 {
		return nil, errRecord
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*20 > uint64(len(b)) {
		return nil, errRecord
	}
	h.dups = h.dups[:0]
	for i := uint32(0); i < n; i++ {
		var d dupCount
		copy(d.id[:], b)
		d.n = binary.LittleEndian.Uint32(b[16:])
		h.dups = append(h.dups, d)
		b = b[20:]
	}
	if len(b) < 4 {
		return nil, errRecord
	}
	h.nframes = binary.LittleEndian.Uint32(b)
	return b[4:], nil
}
