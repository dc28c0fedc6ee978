package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"

	"github.com/readout-dev/readout/internal/atomicfile"
)

// writer is the queue's state that only the writer touches: the active
// segment's file and what appending needs. Its methods below are called by
// one goroutine at a time (the Spool's wmu).
type writer struct {
	f        *os.File // the active segment, for writing; nil when there is none
	nextID   uint64   // id of the next segment to create
	dirtyTo  int64    // >= 0: the active file must be cut back to this size first
	floor    uint64   // batch seqs below floor are durably reserved
	hdr      []byte
	compress bool
	zbuf     []byte
}

// append writes one record to the active segment and returns where it is,
// its size on disk and its batch seq; see Spool.Append. The record becomes
// visible to the cursor at the next sync or seal.
func (q *queue) append(createdNs int64, count uint32, events []byte, force bool) (position, int64, uint64, error) {
	if len(events)+metaSize > MaxRecordBytes {
		return position{}, 0, 0, fmt.Errorf("spool: batch of %d bytes exceeds the record limit", len(events))
	}
	stored, flags := events, uint32(0)
	if q.w.compress && len(events) > 0 {
		// Events compress several times over (zeros, repeated names);
		// the disk's bandwidth, not the CPU, bounds ingest otherwise.
		q.w.zbuf = s2.Encode(q.w.zbuf[:cap(q.w.zbuf)], events)
		if len(q.w.zbuf) < len(events) {
			stored, flags = q.w.zbuf, flagS2
		}
	}
	size := recordSize(len(stored))
	w, seq, err := q.makeRoom(size, force)
	if err != nil {
		return position{}, 0, 0, err
	}
	q.w.hdr = appendRecordHeader(q.w.hdr[:0], seq, createdNs, count, flags, stored)
	if err := q.write(w, q.w.hdr, stored); err != nil {
		return position{}, 0, 0, err
	}
	at := position{seg: w.id, off: w.size}
	q.mu.Lock()
	w.size += size
	w.records++
	q.bytes += size
	q.next++
	q.full = false
	q.mu.Unlock()
	return at, size, seq, nil
}

// makeRoom readies the active segment for a record of size bytes: it
// checks the cap (unless force), rotates, creates the next segment and
// reserves batch seqs as needed. It returns the active segment and the
// record's seq.
func (q *queue) makeRoom(size int64, force bool) (*segment, uint64, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, 0, ErrClosed
	}
	w := q.wseg
	rotate := w != nil && w.records > 0 && (w.size+size > q.segmentBytes || q.rotateReq ||
		(w.released == w.records && q.bytes+size > q.maxBytes))
	if !rotate && !force && q.bytes+size > q.maxBytes {
		q.full = true
		q.mu.Unlock()
		return nil, 0, ErrFull
	}
	q.mu.Unlock()
	if err := q.cutTail(); err != nil {
		return nil, 0, q.appendError(err)
	}
	if rotate {
		if err := q.seal(); err != nil {
			return nil, 0, q.appendError(err)
		}
	}
	if q.wseg == nil {
		// The last segment was sealed (rotated, or after a failed write)
		// and its successor not created yet: on a full disk that waits
		// until shipping has deleted a segment.
		if err := q.startSegment(); err != nil {
			return nil, 0, q.appendError(err)
		}
	}
	q.mu.Lock()
	if !force && q.bytes+size > q.maxBytes {
		q.full = true
		q.mu.Unlock()
		return nil, 0, ErrFull
	}
	seq := q.next
	w = q.wseg
	q.mu.Unlock()

	if seq >= q.w.floor {
		// Reserve seqs durably before using them, so a seq is never reused
		// even after every segment that held it is gone.
		floor := seq + seqReserve
		if err := writeUint(filepath.Join(q.dir, seqFloorFile), floor, true); err != nil {
			err = q.appendError(fmt.Errorf("reserve batch seqs: %w", err))
			q.sealAfterFailure()
			return nil, 0, err
		}
		q.w.floor = floor
	}
	return w, seq, nil
}

// appendError says where the failed append was going: the active segment
// and the offset of the record, or the segment about to be created.
func (q *queue) appendError(err error) error {
	name, off := segmentName(q.w.nextID), int64(headerSize)
	if w := q.wseg; w != nil {
		name, off = segmentName(w.id), w.size
	}
	return fmt.Errorf("append to segment %s at offset %d: %w", name, off, err)
}

// write appends a record to the active segment w. When the write fails
// (typically ENOSPC part-way through the record) the part written is cut
// off, so that nothing ever follows a half-written record, and the
// segment is sealed (see sealAfterFailure).
func (q *queue) write(w *segment, hdr, events []byte) error {
	_, err := q.w.f.Write(hdr)
	if err == nil {
		_, err = q.w.f.Write(events)
	}
	if err == nil {
		return nil
	}
	err = q.appendError(err)
	q.w.dirtyTo = w.size
	if q.cutTail() == nil { // else a later append, seal or close cuts it
		q.sealAfterFailure()
	}
	return err
}

// sealAfterFailure seals the active segment after a failed append, if it
// holds records. An active segment is never deleted, and its records not
// yet synced are not shipped while the writer retries: on a full disk
// (the usual failure) the batches in it would free no space and the spool
// could not recover. Sealing syncs them and needs no new space; the next
// segment is created by a later append, once there is room.
func (q *queue) sealAfterFailure() {
	w := q.wseg
	if w == nil || w.records == 0 {
		return
	}
	if q.cutTail() != nil {
		return
	}
	if q.seal() != nil {
		q.mu.Lock()
		q.rotateReq = true // seal at the next append
		q.mu.Unlock()
	}
}

// cutTail cuts the active segment back to its last whole record after a
// failed write.
func (q *queue) cutTail() error {
	if q.w.dirtyTo < 0 || q.w.f == nil {
		return nil
	}
	if err := q.w.f.Truncate(q.w.dirtyTo); err != nil {
		return fmt.Errorf("cut off a partial record: %w", err)
	}
	if _, err := q.w.f.Seek(q.w.dirtyTo, io.SeekStart); err != nil {
		return fmt.Errorf("cut off a partial record: %w", err)
	}
	q.w.dirtyTo = -1
	return nil
}

// sync makes every appended record durable and visible to the cursor.
func (q *queue) sync() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	w := q.wseg
	q.mu.Unlock()
	if w == nil {
		return nil // sealing synced every record appended
	}
	size := w.size
	if err := q.w.f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s up to offset %d: %w", segmentName(w.id), size, err)
	}
	q.mu.Lock()
	if w.synced < size {
		w.synced = size
		q.broadcast()
	}
	q.mu.Unlock()
	return nil
}

// seal ends the active segment: fsynced and closed, it is read and deleted
// like any older one. The next append creates its successor. Callers have
// cut any partial record off.
func (q *queue) seal() error {
	w := q.wseg
	if err := q.w.f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s up to offset %d: %w", segmentName(w.id), w.size, err)
	}
	// Every byte is durable; a failing close loses nothing and the
	// descriptor is gone either way.
	_ = q.w.f.Close()
	q.w.f = nil
	q.mu.Lock()
	w.synced = w.size
	w.sealed = true
	q.wseg = nil
	q.rotateReq = false
	q.broadcast()
	q.mu.Unlock()
	return nil
}

// startSegment creates the next segment and makes it the active one. On
// failure nothing is left behind, so a later attempt can create the same
// segment.
func (q *queue) startSegment() error {
	id := q.w.nextID
	path := filepath.Join(q.dir, segmentName(id))
	f, err := createSegment(q.dir, path)
	if err != nil {
		return fmt.Errorf("create segment %s: %w", segmentName(id), err)
	}
	q.w.f, q.w.dirtyTo = f, -1
	q.w.nextID++
	seg := &segment{id: id, path: path, size: int64(headerSize)}
	q.mu.Lock()
	q.segs = append(q.segs, seg)
	q.wseg = seg
	q.bytes += int64(headerSize)
	// The cursor may be waiting at the end of the segment just sealed for
	// a successor to move on to.
	q.broadcast()
	q.mu.Unlock()
	return nil
}

// createSegment creates a segment file holding only its header. A file of
// that name no longer than a header is the leftover of an attempt that
// failed half-way and could not be removed; it is reused.
func createSegment(dir, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, os.ErrExist) {
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().IsRegular() && fi.Size() <= int64(headerSize) {
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		}
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write([]byte(segmentMagic))
	if err == nil {
		err = atomicfile.SyncDir(dir)
	}
	if err != nil {
		// On a full disk the header is what fails; a file left here would
		// block the next attempt at this id.
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// waitSpace blocks until a record of n event bytes fits under the cap; see
// Spool.WaitSpace.
func (q *queue) waitSpace(ctx context.Context, n int) error {
	size := recordSize(n)
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		w := q.wseg
		fits := q.bytes+size <= q.maxBytes ||
			(w != nil && w.records > 0 && w.released == w.records) // append can rotate it away
		ch := q.changed
		q.mu.Unlock()
		if fits {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
