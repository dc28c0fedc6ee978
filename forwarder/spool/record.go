package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/klauspost/compress/s2"
)

// On-disk layout; see docs/spool-format.md.
const (
	segmentMagic = "RDSPOOL1"
	// headerSize is the segment file header: the magic bytes.
	headerSize = len(segmentMagic)
	// recordHeaderSize is the length and checksum in front of every payload.
	recordHeaderSize = 8
	// metaSize is the fixed part of a payload before the events.
	metaSize = 24
	// MaxRecordBytes bounds one record's payload, so a corrupt length field
	// cannot make a reader allocate without limit.
	MaxRecordBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one sealed batch as the spool stores it.
type Record struct {
	Seq        uint64
	CreatedNs  int64
	EventCount uint32
	Events     []byte

	segment uint64 // the segment holding the record, for Release
	flags   uint32 // how Events is stored; see docs/spool-format.md
	// mem is the pooled block Events lies in, Headroom bytes in; nil when
	// Events is not the record's own (see Recycle and Body).
	mem *[]byte
}

// Record flags.
const (
	// flagS2 means the stored events are one S2 block; Next decodes them.
	flagS2 = 1 << 0
	// knownFlags are the flags this version understands.
	knownFlags = flagS2
)

// CorruptionError reports bytes in a segment that are not a valid record.
// Callers detect it with errors.As and repair from it.
type CorruptionError struct {
	Segment string // file name of the segment
	Offset  int64  // byte offset of the bad record or header
	Err     error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("spool: corrupt segment %s at offset %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// Reasons wrapped by CorruptionError.
var (
	ErrBadMagic    = errors.New("bad segment header")
	ErrBadLength   = errors.New("bad record length")
	ErrBadChecksum = errors.New("checksum mismatch")
	// ErrTruncated means the segment ends inside a record.
	ErrTruncated = errors.New("truncated record")
	// ErrBadFlags means a record uses flags this version does not know.
	ErrBadFlags = errors.New("unknown record flags")
	// ErrBadCompression means compressed events do not decode.
	ErrBadCompression = errors.New("bad compressed events")
)

// recordSize is the on-disk size of a record holding events.
func recordSize(events int) int64 { return int64(recordHeaderSize + metaSize + events) }

// appendRecordHeader appends the record header and payload metadata for a
// record whose events are written right after it.
func appendRecordHeader(dst []byte, seq uint64, createdNs int64, count, flags uint32, events []byte) []byte {
	var h [recordHeaderSize + metaSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(metaSize+len(events)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint64(h[16:], uint64(createdNs))
	binary.LittleEndian.PutUint32(h[24:], count)
	binary.LittleEndian.PutUint32(h[28:], flags)
	crc := crc32.Update(0, castagnoli, h[8:])
	crc = crc32.Update(crc, castagnoli, events)
	binary.LittleEndian.PutUint32(h[4:], crc)
	return append(dst, h[:]...)
}

// readRecord reads the record at the reader's position into buf (grown as
// needed) and returns it with its on-disk size. io.EOF means a clean end;
// ErrTruncated, ErrBadLength and ErrBadChecksum describe a bad record. The
// record's Events alias the returned buffer. A nil buf means the record is
// to own its events: they go into a pooled block with Headroom in front
// (see Recycle), whatever the returned buffer is used for afterwards.
func readRecord(r io.Reader, buf []byte) (Record, []byte, int64, error) {
	var h [recordHeaderSize]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF {
		return Record{}, buf, 0, io.EOF
	}
	if err != nil {
		if n > 0 && err == io.ErrUnexpectedEOF {
			return Record{}, buf, 0, ErrTruncated
		}
		return Record{}, buf, 0, err
	}
	plen := binary.LittleEndian.Uint32(h[0:])
	if plen < metaSize || plen > MaxRecordBytes {
		return Record{}, buf, 0, ErrBadLength
	}
	// On an error below the block is left to the garbage collector: the
	// returned buffer may still use it.
	var mem *[]byte
	if buf == nil && plen <= pooledReadMax {
		// The payload's metadata goes just in front of Headroom, so that
		// the events land where Body expects them.
		mem = getBlock(Headroom + int(plen) - metaSize + Tailroom)
		buf = (*mem)[Headroom-metaSize : Headroom-metaSize]
	}
	buf, err = readN(r, buf[:0], int(plen))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return Record{}, buf, 0, ErrTruncated
		}
		return Record{}, buf, 0, err
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return Record{}, buf, 0, ErrBadChecksum
	}
	rec := Record{
		Seq:        binary.LittleEndian.Uint64(buf[0:]),
		CreatedNs:  int64(binary.LittleEndian.Uint64(buf[8:])),
		EventCount: binary.LittleEndian.Uint32(buf[16:]),
		Events:     buf[metaSize:],
		flags:      binary.LittleEndian.Uint32(buf[20:]),
		mem:        mem,
	}
	if rec.flags&^knownFlags != 0 {
		return Record{}, buf, 0, ErrBadFlags
	}
	return rec, buf, int64(recordHeaderSize) + int64(plen), nil
}

// pooledReadMax bounds the block readRecord takes before reading a payload
// whose length it has not verified yet; longer payloads grow step by step.
const pooledReadMax = 8 << 20

// readStep bounds how far ahead of the bytes actually read a buffer grows,
// so that a corrupt length near MaxRecordBytes at the end of a short file
// costs a small allocation, not 64 MiB.
const readStep = 1 << 20

// readN appends exactly n bytes from r to buf.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		step := min(n-len(buf), readStep)
		buf = slices.Grow(buf, step)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// isDataError reports whether err describes bad bytes rather than failed I/O.
func isDataError(err error) bool {
	for _, e := range []error{ErrTruncated, ErrBadLength, ErrBadChecksum, ErrBadMagic, ErrBadFlags, ErrBadCompression} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// decodeEvents replaces stored events by the events they hold, in a pooled
// block of the record's own.
func decodeEvents(rec *Record) error {
	if rec.flags&flagS2 == 0 {
		return nil
	}
	n, err := s2.DecodedLen(rec.Events)
	if err != nil || n > MaxRecordBytes {
		return ErrBadCompression
	}
	mem, ev := ownedEvents(n)
	if _, err := s2.Decode(ev, rec.Events); err != nil {
		Recycle(&Record{mem: mem})
		return ErrBadCompression
	}
	Recycle(rec)
	rec.Events, rec.flags, rec.mem = ev, 0, mem
	return nil
}
