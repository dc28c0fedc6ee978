package spool

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/klauspost/compress/s2"
)

// Append writes one sealed batch and returns the batch seq assigned to it.
// The batch is not durable, and not visible to Next, until Sync returns.
// When it does not fit under the size cap Append writes nothing and returns
// ErrFull; force (used when a batch is replaced by its two halves) skips
// that check. Events is not retained.
func (s *Spool) Append(createdNs int64, count uint32, events []byte, force bool) (uint64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(events)+metaSize > MaxRecordBytes {
		return 0, fmt.Errorf("spool: batch of %d bytes exceeds the record limit", len(events))
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
		return 0, ErrClosed
	}
	act := s.active()
	if act.sealed {
		// A rotation failed after sealing (say the disk was full when the
		// next segment was created); start that segment now.
		s.mu.Unlock()
		if err := s.startSegment(act.id + 1); err != nil {
			return 0, err
		}
		s.mu.Lock()
		act = s.active()
	}
	released := act.records > 0 && act.released == act.records
	rotate := act.records > 0 && (act.size+size > s.segmentBytes || s.rotateReq ||
		(released && s.bytes+size > s.maxBytes))
	if !rotate && !force && s.bytes+size > s.maxBytes {
		s.full = true
		s.mu.Unlock()
		return 0, ErrFull
	}
	s.mu.Unlock()
	if rotate {
		if err := s.rotate(); err != nil {
			return 0, err
		}
	}
	s.mu.Lock()
	if !force && s.bytes+size > s.maxBytes {
		s.full = true
		s.mu.Unlock()
		return 0, ErrFull
	}
	seq := s.next
	act = s.active()
	s.mu.Unlock()

	if seq >= s.floor {
		// Reserve seqs durably before using them, so a seq is never reused
		// even after every segment that held it is gone.
		floor := seq + seqReserve
		if err := writeUint(filepath.Join(s.dir, seqFloorFile), floor, true); err != nil {
			return 0, fmt.Errorf("reserve batch seqs: %w", err)
		}
		s.floor = floor
	}
	s.hdr = appendRecordHeader(s.hdr[:0], seq, createdNs, count, flags, stored)
	if err := s.write(act, s.hdr, stored); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.handOff(act.id, act.size, size, seq, createdNs, count, events)
	act.size += size
	act.records++
	s.bytes += size
	s.next++
	s.full = false
	s.mu.Unlock()
	return seq, nil
}

// write appends a record to the active segment; on failure it cuts the file
// back so that a later append does not land after a half-written record.
func (s *Spool) write(act *segment, hdr, events []byte) error {
	_, err := s.wf.Write(hdr)
	if err == nil {
		_, err = s.wf.Write(events)
	}
	if err != nil {
		if terr := s.wf.Truncate(act.size); terr == nil {
			s.wf.Seek(act.size, 0)
		}
		// Seal this segment at the next append: while it stays active it
		// is never deleted, so on a full disk the batches shipped from it
		// would free no space and the spool could not recover.
		s.mu.Lock()
		s.rotateReq = true
		s.mu.Unlock()
		return fmt.Errorf("append to segment %d at offset %d: %w", act.id, act.size, err)
	}
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
	act := s.active()
	size := act.size
	s.mu.Unlock()
	if act.sealed {
		return nil // rotation synced it
	}
	if err := s.wf.Sync(); err != nil {
		return fmt.Errorf("sync segment %d: %w", act.id, err)
	}
	s.mu.Lock()
	if act.synced < size {
		act.synced = size
		s.broadcast()
	}
	s.mu.Unlock()
	return nil
}

// rotate seals the active segment and starts the next. Callers hold wmu.
func (s *Spool) rotate() error {
	if err := s.wf.Sync(); err != nil {
		return fmt.Errorf("sync segment: %w", err)
	}
	if err := s.wf.Close(); err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	s.mu.Lock()
	act := s.active()
	act.synced = act.size
	act.sealed = true
	s.rotateReq = false
	s.broadcast()
	s.mu.Unlock()
	return s.startSegment(act.id + 1)
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
		act := s.active()
		fits := s.bytes+size <= s.maxBytes ||
			(act.records > 0 && act.released == act.records) // Append can rotate it away
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
