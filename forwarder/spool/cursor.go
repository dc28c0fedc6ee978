package spool

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// ackedSaveEvery throttles rewrites of the acknowledged mark; it only spares
// re-sends after a restart, so losing the latest value is harmless.
const ackedSaveEvery = time.Second

// Next returns the next durable batch in append order, blocking until one
// is available or ctx ends. The record owns its Events. Every record Next
// returns must eventually be passed to Release (after the collector has
// acknowledged it, or it has been quarantined or replaced). Batches released
// before this process started are skipped. A corrupt segment found here is
// moved to quarantine and the cursor moves on.
func (s *Spool) Next(ctx context.Context) (Record, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Record{}, ErrClosed
		}
		seg := s.cursorSegment()
		if seg == nil {
			// Past the last segment, which was sealed: wait for the next.
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return Record{}, ctx.Err()
			case <-ch:
			}
			continue
		}
		if seg.corrupt && seg.sealed {
			s.quarantineLocked(seg)
			s.mu.Unlock()
			continue
		}
		if s.curOff < seg.synced && !seg.corrupt {
			rec, err := s.readAtCursor(seg)
			if err != nil {
				return Record{}, err
			}
			if rec.Seq == 0 || rec.Seq <= s.openAcked {
				continue
			}
			return rec, nil
		}
		if seg.sealed && s.curOff >= seg.size {
			// Past it even when no next segment exists yet (the disk is
			// full): it can then be deleted once released, which is
			// what frees the space for the next one.
			s.advanceLocked(seg)
			s.mu.Unlock()
			continue
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-ch:
		}
	}
}

// cursorSegment returns the segment under the cursor, moving the cursor to
// the next one when its segment has gone, or nil when the cursor is past
// every segment. Callers hold mu.
func (s *Spool) cursorSegment() *segment {
	for _, seg := range s.segs {
		if seg.id == s.curSeg {
			return seg
		}
		if seg.id > s.curSeg {
			s.curSeg, s.curOff = seg.id, int64(headerSize)
			return seg
		}
	}
	return nil
}

// readAtCursor reads the record at the cursor; it is entered with mu held
// and returns with mu released. A zero Seq with a nil error means "look
// again" (the record was skipped or the segment went to quarantine).
func (s *Spool) readAtCursor(seg *segment) (Record, error) {
	if h, ok := s.takeHanded(seg.id, s.curOff); ok {
		s.curOff += h.size
		rec := h.rec
		rec.segment = seg.id
		if rec.Seq > s.openAcked {
			s.inflight = append(s.inflight, inflight{seq: rec.Seq})
		}
		s.mu.Unlock()
		return rec, nil
	}
	if seg.rf == nil {
		f, err := os.Open(seg.path)
		if err != nil {
			s.mu.Unlock()
			return Record{}, err
		}
		seg.rf = f
	}
	off, limit, f := s.curOff, seg.synced, seg.rf
	s.mu.Unlock()
	// The file cannot go away meanwhile: segments are removed only once
	// the cursor (this single caller) has passed them.
	rec, _, size, err := readRecord(io.NewSectionReader(f, off, limit-off), nil)
	if err == nil {
		err = decodeEvents(&rec)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if err == io.EOF {
			err = ErrTruncated
		}
		if !isDataError(err) {
			return Record{}, err
		}
		cerr := &CorruptionError{Segment: filepath.Base(seg.path), Offset: off, Err: err}
		s.log.Error("spool: corrupt record found while shipping", zap.Error(cerr))
		seg.corrupt = true
		if seg.sealed {
			s.quarantineLocked(seg)
		} else {
			s.rotateReq = true
		}
		return Record{}, nil
	}
	s.curOff = off + size
	rec.segment = seg.id
	if rec.Seq > s.openAcked {
		s.inflight = append(s.inflight, inflight{seq: rec.Seq})
	}
	return rec, nil
}

// advanceLocked moves the cursor past a finished sealed segment, to the
// start of whichever segment comes next (perhaps one not created yet).
func (s *Spool) advanceLocked(seg *segment) {
	s.curSeg, s.curOff = seg.id+1, int64(headerSize)
	s.deleteReleasedLocked()
}

// quarantineLocked moves a corrupt sealed segment aside. Its batches not yet
// handed out are not shipped; they stay in the quarantine directory.
func (s *Spool) quarantineLocked(seg *segment) {
	if seg.rf != nil {
		seg.rf.Close()
		seg.rf = nil
	}
	if err := s.moveToQuarantine(seg.path); err != nil {
		s.log.Error("spool: cannot quarantine segment", zap.String("segment", seg.path), zap.Error(err))
	}
	s.corruptSegments.Add(1)
	s.removeSegLocked(seg)
}

func (s *Spool) removeSegLocked(seg *segment) {
	for i, x := range s.segs {
		if x == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			s.bytes -= seg.size
			break
		}
	}
	s.broadcast()
}

// deleteReleasedLocked removes sealed segments the cursor has passed whose
// every batch is released. The active segment is never sealed.
func (s *Spool) deleteReleasedLocked() {
	for i := 0; i < len(s.segs); i++ {
		seg := s.segs[i]
		if !seg.sealed || seg.id >= s.curSeg || seg.released < seg.records {
			continue
		}
		if seg.rf != nil {
			seg.rf.Close()
			seg.rf = nil
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.removeFault.fail(s.log, "spool: cannot remove released segment; retrying at every release", zap.String("segment", seg.path), zap.Error(err))
			continue
		}
		s.removeFault.ok()
		s.removeSegLocked(seg)
		i--
	}
}

// Release marks a batch returned by Next as done: acknowledged by the
// collector, quarantined, or replaced by sealed halves. A segment is
// deleted once all its batches are released.
func (s *Spool) Release(rec Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seg := s.segByID(rec.segment); seg != nil {
		seg.released++
	}
	for i := range s.inflight {
		if s.inflight[i].seq == rec.Seq {
			s.inflight[i].done = true
			break
		}
	}
	n := 0
	for n < len(s.inflight) && s.inflight[n].done {
		s.ackedThrough = s.inflight[n].seq
		n++
	}
	s.inflight = append(s.inflight[:0], s.inflight[n:]...)
	s.deleteReleasedLocked()
	if s.ackedThrough != s.ackedSaved && time.Since(s.ackedSavedAt) >= ackedSaveEvery && !s.closed {
		s.saveAckedLocked()
	}
	s.broadcast()
}

// saveAckedLocked rewrites the acknowledged mark; a failure is retried a
// second later. The mark only spares re-sends after a restart.
func (s *Spool) saveAckedLocked() {
	s.ackedSavedAt = time.Now()
	if err := writeUint(filepath.Join(s.dir, ackedFile), s.ackedThrough, false); err != nil {
		s.ackedFault.fail(s.log, "spool: cannot save acknowledged mark; retrying", zap.Error(err))
		return
	}
	s.ackedSaved = s.ackedThrough
	s.ackedFault.ok()
}

// faultEscalate is how long a retried housekeeping failure lasts before it
// is logged as a warning.
const faultEscalate = time.Minute

// faultLog logs a retried housekeeping failure (deleting a released
// segment, saving the acknowledged mark) once at info level when it
// starts, and once more as a warning if it lasts past faultEscalate; a
// success starts over. Such a failure comes with a disk fault that the
// caller already reports through a failed append or sync, once; logged at
// every release it would repeat that report many times over.
type faultLog struct {
	since  time.Time
	warned bool
}

func (f *faultLog) fail(log *zap.Logger, msg string, fields ...zap.Field) {
	now := time.Now()
	switch {
	case f.since.IsZero():
		f.since = now
		log.Info(msg, fields...)
	case !f.warned && now.Sub(f.since) >= faultEscalate:
		f.warned = true
		log.Warn(msg, append(fields, zap.Duration("failing_for", now.Sub(f.since)))...)
	}
}

func (f *faultLog) ok() { *f = faultLog{} }
