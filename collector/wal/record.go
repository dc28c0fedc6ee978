// Package wal is the collector's write-ahead log: segment files of
// checksummed records, appended with group commit and truncated once what
// they hold is committed elsewhere. The on-disk format is in docs/wal-format.md.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a record header: payload length, CRC32C of the
// LSN and payload, LSN.
const HeaderSize = 16

// MaxRecordSize bounds one record's payload, so a corrupt length field cannot
// make the reader allocate or skip gigabytes.
const MaxRecordSize = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn means the bytes end inside a record: a write the crash cut short.
var errTorn = errors.New("torn record")

// CorruptionError reports a damaged record: a bad checksum, an impossible
// length, or a record cut short. Callers detect it with errors.As and
// repair from it (truncate or quarantine the segment at Offset).
type CorruptionError struct {
	Segment string // file name of the segment
	Offset  int64  // byte offset of the damaged record
	Err     error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// Torn reports whether the damage is a record cut short by the end of the
// file, the normal result of a crash during an append.
func (e *CorruptionError) Torn() bool { return errors.Is(e.Err, errTorn) }

// AppendRecord appends one encoded record to dst.
func AppendRecord(dst []byte, lsn uint64, payload []byte) []byte {
	var h [HeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], lsn)
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// BeginRecord starts a record at the end of dst, leaving room for its
// header: the caller appends the payload and then calls FinishRecord with
// the returned offset. Building the payload in place spares a copy of
// every byte the collector logs.
func BeginRecord(dst []byte) ([]byte, int) {
	return append(dst, make([]byte, HeaderSize)...), len(dst)
}

// FinishRecord fills in the header of the record that BeginRecord started at
// start, whose payload is the rest of dst. The result is what AppendRecord
// would have produced.
func FinishRecord(dst []byte, start int, lsn uint64) []byte {
	h, payload := dst[start:start+HeaderSize], dst[start+HeaderSize:]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], lsn)
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:], crc)
	return dst
}

// ParseRecord reads the record at the start of b. It returns the LSN, the
// payload (aliasing b) and the record's total size. A record that b ends
// inside of is errTorn; a bad length or checksum is another error.
func ParseRecord(b []byte) (lsn uint64, payload []byte, size int, err error) {
	if len(b) < HeaderSize {
		return 0, nil, 0, errTorn
	}
	n := binary.LittleEndian.Uint32(b[0:])
	if n > MaxRecordSize {
		return 0, nil, 0, fmt.Errorf("record length %d exceeds %d", n, MaxRecordSize)
	}
	size = HeaderSize + int(n)
	if len(b) < size {
		return 0, nil, 0, errTorn
	}
	want := binary.LittleEndian.Uint32(b[4:])
	crc := crc32.Update(0, castagnoli, b[8:16])
	crc = crc32.Update(crc, castagnoli, b[HeaderSize:size])
	if crc != want {
		return 0, nil, 0, fmt.Errorf("checksum %08x, want %08x", crc, want)
	}
	lsn = binary.LittleEndian.Uint64(b[8:])
	if lsn == 0 {
		return 0, nil, 0, errors.New("lsn 0")
	}
	return lsn, b[HeaderSize:size], size, nil
}

// ScanRecords calls fn for each record in a segment's bytes, in order, and
// stops at the first damaged record, returning a *CorruptionError naming
// segment and the damaged record's offset. LSNs must increase strictly.
func ScanRecords(segment string, b []byte, fn func(lsn uint64, payload []byte) error) error {
	var off int64
	var last uint64
	for len(b) > 0 {
		lsn, payload, size, err := ParseRecord(b)
		if err == nil && lsn <= last {
			err = fmt.Errorf("lsn %d after %d", lsn, last)
		}
		if err != nil {
			return &CorruptionError{Segment: segment, Offset: off, Err: err}
		}
		if err := fn(lsn, payload); err != nil {
			return err
		}
		last = lsn
		off += int64(size)
		b = b[size:]
	}
	return nil
}
