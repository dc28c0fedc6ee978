package spool

import (
	"bufio"
	"io"
)

// scanSegment reads a whole segment from r, calling fn with every valid
// record and its offset, in order. It returns the offset just past the last
// valid record. When the bytes after that offset are not a valid record it
// also returns a *CorruptionError saying where and why; fn's records up to
// that point remain valid. Records passed to fn alias a reused buffer and
// hold their events as stored (possibly compressed).
func scanSegment(name string, r io.Reader, fn func(rec Record, off int64)) (int64, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var magic [headerSize]byte
	n, err := io.ReadFull(br, magic[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return 0, err
	}
	if n < headerSize {
		return 0, &CorruptionError{Segment: name, Offset: 0, Err: ErrTruncated}
	}
	if string(magic[:]) != segmentMagic {
		return 0, &CorruptionError{Segment: name, Offset: 0, Err: ErrBadMagic}
	}
	off := int64(headerSize)
	var buf []byte
	for {
		var rec Record
		var size int64
		rec, buf, size, err = readRecord(br, buf)
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			if isDataError(err) {
				return off, &CorruptionError{Segment: name, Offset: off, Err: err}
			}
			return off, err
		}
		if fn != nil {
			fn(rec, off)
		}
		off += size
	}
}
