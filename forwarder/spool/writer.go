package spool

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/klauspost/compress/s2"
)

// Append writes one sealed batch and returns the batch seq assigned to it.
// The batch is not durable, and not visible to Next, until Sync returns
// (or the segment is sealed, which syncs it). A failed append writes
// nothing that stays: see write.
// When it does not fit under the size cap Append writes nothing and returns
// ErrFull; force (used when a batch is replaced by its two halves) skips
// that check. Events is not retained.
func (s *Spool) Append(createdNs int64, count uint32, events []byte, force bool) (uint64, error) {
	seq, _, err := s.append(createdNs, count, events, nil, force)
	return seq, err
}

// AppendBlock is Append for events assembled in place in block, a buffer
// from NewBuffer: the handoff may keep block as the record's memory
// instead of copying the events (kept), and then the caller must no longer
// use events or block. Otherwise they stay the caller's (FreeBuffer).
func (s *Spool) AppendBlock(createdNs int64, count uint32, events []byte, block *[]byte, force bool) (seq uint64, kept bool, err error) {
	return s.append(createdNs, count, events, block, force)
}

func (s *Spool) append(createdNs int64, count uint32, events []byte, block *[]byte, force bool) (uint64, bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(events)+metaSize > MaxRecordBytes {
		return 0, false, fmt.Errorf("spool: batch of %d bytes exceeds the record limit", len(events))
	}
	stored, flags := events, uint32(0)
	if s.compress && len(events) > 0 {
		// Events compress several times over (zeros, repeated names);
		// the disk's bandwidth, not the CPU, bounds ingest otherwise.
		s.zbuf = s2.Encode(s.zbuf[:cap(s.zbuf)], events)
		if len(s.zbuf) < len(events) {
			stored, flags = s.zbuf, flagS2
		}
	}
	size := recordSize(len(stored))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, false, ErrClosed
	}
	w := s.wseg
	rotate := w != nil && w.records > 0 && (w.size+size > s.segmentBytes || s.rotateReq ||
		(w.released == w.records && s.bytes+size > s.maxBytes))
	if !rotate && !force && s.bytes+size > s.maxBytes {
		s.full = true
		s.mu.Unlock()
		return 0, false, ErrFull
	}
	s.mu.Unlock()
	if err := s.cutTail(); err != nil {
		return 0, false, s.appendError(err)
	}
	if rotate {
		if err := s.seal(); err != nil {
			return 0, false, s.appendError(err)
		}
	}
	if s.wseg == nil {
		// The last segment was sealed (rotated, or after a failed write)
		// and its successor not created yet: on a full disk that waits
		// until shipping has deleted a segment.
		if err := s.startSegment(); err != nil {
			return 0, false, s.appendError(err)
		}
	}
	s.mu.Lock()
	if !force && s.bytes+size > s.maxBytes {
		s.full = true
		s.mu.Unlock()
		return 0, false, ErrFull
	}
	seq := s.next
	w = s.wseg
	s.mu.Unlock()

	if seq >= s.floor {
		// Reserve seqs durably before using them, so a seq is never reused
		// even after every segment that held it is gone.
		floor := seq + seqReserve
		if err := writeUint(filepath.Join(s.dir, seqFloorFile), floor, true); err != nil {
			err = s.appendError(fmt.Errorf("reserve batch seqs: %w", err))
			s.sealAfterFailure()
			return 0, false, err
		}
		s.floor = floor
	}
	s.hdr = appendRecordHeader(s.hdr[:0], seq, createdNs, count, flags, stored)
	if err := s.write(w, s.hdr, stored); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	kept := s.handOff(w.id, w.size, size, seq, createdNs, count, events, block)
	w.size += size
	w.records++
	s.bytes += size
	s.next++
	s.full = false
	s.mu.Unlock()
	return seq, kept, nil
}

// appendError says where the failed append was going: the active segment
// and the offset of the record, or the segment about to be created.
// Callers hold wmu.
func (s *Spool) appendError(err error) error {
	name, off := segmentName(s.nextID), int64(headerSize)
	if w := s.wseg; w != nil {
		name, off = segmentName(w.id), w.size
	}
	return fmt.Errorf("append to segment %s at offset %d: %w", name, off, err)
}

// write appends a record to the active segment w. When the write fails
// (typically ENOSPC part-way through the record) the part written is cut
// off, so that nothing ever follows a half-written record, and the
// segment is sealed (see sealAfterFailure).
func (s *Spool) write(w *segment, hdr, events []byte) error {
	_, err := s.wf.Write(hdr)
	if err == nil {
		_, err = s.wf.Write(events)
	}
	if err == nil {
		return nil
	}
	err = s.appendError(err)
	s.dirtyTo = w.size
	if s.cutTail() == nil { // else a later append, seal or Close cuts it
		s.sealAfterFailure()
	}
	return err
}

// sealAfterFailure seals the active segment after a failed append, if it
// holds records. An active segment is never deleted, and its records not
// yet synced are not shipped while the writer retries: on a full disk
// (the usual failure) the batches in it would free no space and the spool
// could not recover. Sealing syncs them and needs no new space; the next
// segment is created by a later append, once there is room. Callers hold
// wmu.
func (s *Spool) sealAfterFailure() {
	w := s.wseg
	if w == nil || w.records == 0 {
		return
	}
	if s.cutTail() != nil {
		return
	}
	if s.seal() != nil {
		s.mu.Lock()
		s.rotateReq = true // seal at the next append
		s.mu.Unlock()
	}
}

// cutTail cuts the active segment back to its last whole record after a
// failed write. Callers hold wmu.
func (s *Spool) cutTail() error {
	if s.dirtyTo < 0 || s.wf == nil {
		return nil
	}
	if err := s.wf.Truncate(s.dirtyTo); err != nil {
		return fmt.Errorf("cut off a partial record: %w", err)
	}
	if _, err := s.wf.Seek(s.dirtyTo, io.SeekStart); err != nil {
		return fmt.Errorf("cut off a partial record: %w", err)
	}
	s.dirtyTo = -1
	return nil
}

// Sync makes every appended batch durable and visible to Next.
func (s *Spool) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	w := s.wseg
	s.mu.Unlock()
	if w == nil {
		return nil // sealing synced every batch appended
	}
	size := w.size
	if err := s.wf.Sync(); err != nil {
		return fmt.Errorf("sync segment %s up to offset %d: %w", segmentName(w.id), size, err)
	}
	s.mu.Lock()
	if w.synced < size {
		w.synced = size
		s.broadcast()
	}
	s.mu.Unlock()
	return nil
}

// seal ends the active segment: fsynced and closed, it is read and deleted
// like any older one. The next append creates its successor. Callers hold
// wmu and have cut any partial record off.
func (s *Spool) seal() error {
	w := s.wseg
	if err := s.wf.Sync(); err != nil {
		return fmt.Errorf("sync segment %s up to offset %d: %w", segmentName(w.id), w.size, err)
	}
	// Every byte is durable; a failing close loses nothing and the
	// descriptor is gone either way.
	_ = s.wf.Close()
	s.wf = nil
	s.mu.Lock()
	w.synced = w.size
	w.sealed = true
	s.wseg = nil
	s.rotateReq = false
	s.broadcast()
	s.mu.Unlock()
	return nil
}

// WaitSpace blocks until a record of n event bytes fits under the cap
// (uncompressed, so it may wait for more room than the record takes).
func (s *Spool) WaitSpace(ctx context.Context, n int) error {
	size := recordSize(n)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		w := s.wseg
		fits := s.bytes+size <= s.maxBytes ||
			(w != nil && w.records > 0 && w.released == w.records) // Append can rotate it away
		ch := s.changed
		s.mu.Unlock()
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
