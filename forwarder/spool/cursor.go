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

// cursor is where shipping reads, and what it has released. It is guarded
// by the queue's mu.
type cursor struct {
	seg          uint64 // the segment under the cursor
	off          int64  // the offset of the next record in it
	openAcked    uint64 // records with seq <= openAcked were released before this run
	inflight     []inflight
	ackedThrough uint64 // every batch handed out up to here is released
	ackedSaved   uint64
	ackedSavedAt time.Time
	ackedFault   faultLog // saving the acknowledged mark fails
}

type inflight struct {
	seq  uint64
	done bool
}

// wait blocks until a durable record is under the cursor and returns its
// position, or ctx ends, or the queue closes. On the way it moves the
// cursor past finished segments (deleting released ones) and quarantines
// corrupt sealed segments. The record is then taken with pass or read.
func (q *queue) wait(ctx context.Context) (position, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return position{}, ErrClosed
		}
		seg := q.cursorSegment()
		if seg == nil {
			// Past the last segment, which was sealed: wait for the next.
			ch := q.changed
			q.mu.Unlock()
			select {
			case <-ctx.Done():
				return position{}, ctx.Err()
			case <-ch:
			}
			continue
		}
		if seg.corrupt && seg.sealed {
			q.quarantineLocked(seg)
			q.mu.Unlock()
			continue
		}
		if q.cur.off < seg.synced && !seg.corrupt {
			at := position{seg: seg.id, off: q.cur.off}
			q.mu.Unlock()
			return at, nil
		}
		if seg.sealed && q.cur.off >= seg.size {
			// Past it even when no next segment exists yet (the disk is
			// full): it can then be deleted once released, which is
			// what frees the space for the next one.
			q.advanceLocked(seg)
			q.mu.Unlock()
			continue
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return position{}, ctx.Err()
		case <-ch:
		}
	}
}

// cursorSegment returns the segment under the cursor, moving the cursor to
// the next one when its segment has gone, or nil when the cursor is past
// every segment. Callers hold mu.
func (q *queue) cursorSegment() *segment {
	for _, seg := range q.segs {
		if seg.id == q.cur.seg {
			return seg
		}
		if seg.id > q.cur.seg {
			q.cur.seg, q.cur.off = seg.id, int64(headerSize)
			return seg
		}
	}
	return nil
}

// pass moves the cursor past the record at at, of size bytes on disk,
// which the caller already holds (a copy from the handoff), and hands it
// out as read would.
func (q *queue) pass(at position, size int64, rec Record) (Record, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		Recycle(&rec)
		return Record{}, false, ErrClosed
	}
	q.cur.off = at.off + size
	rec, ok := q.handOutLocked(at.seg, rec)
	return rec, ok, nil
}

// read reads the record at at, the cursor, from its file and moves the
// cursor past it. It reports false with a nil error when there is nothing
// to hand out: the record was released before this run, or it is corrupt
// (its segment is then quarantined, at once or once sealed).
func (q *queue) read(at position) (Record, bool, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return Record{}, false, ErrClosed
	}
	seg := q.segByID(at.seg)
	if seg == nil || q.cur.seg != at.seg || q.cur.off != at.off {
		q.mu.Unlock()
		return Record{}, false, nil // moved meanwhile; look again
	}
	if seg.rf == nil {
		f, err := os.Open(seg.path)
		if err != nil {
			q.mu.Unlock()
			return Record{}, false, err
		}
		seg.rf = f
	}
	limit, f := seg.synced, seg.rf
	q.mu.Unlock()
	// The file cannot go away meanwhile: segments are removed only once
	// the cursor (this single caller) has passed them.
	rec, _, size, err := readRecord(io.NewSectionReader(f, at.off, limit-at.off), nil)
	if err == nil {
		err = decodeEvents(&rec)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		if err == io.EOF {
			err = ErrTruncated
		}
		if !isDataError(err) {
			return Record{}, false, err
		}
		cerr := &CorruptionError{Segment: filepath.Base(seg.path), Offset: at.off, Err: err}
		q.log.Error("spool: corrupt record found while shipping", zap.Error(cerr))
		seg.corrupt = true
		if seg.sealed {
			q.quarantineLocked(seg)
		} else {
			q.rotateReq = true
		}
		return Record{}, false, nil
	}
	q.cur.off = at.off + size
	rec, ok := q.handOutLocked(seg.id, rec)
	return rec, ok, nil
}

// handOutLocked hands out a record the cursor has just passed, to be
// released later, unless it was released before this run. Callers hold mu.
func (q *queue) handOutLocked(seg uint64, rec Record) (Record, bool) {
	rec.segment = seg
	if rec.Seq == 0 || rec.Seq <= q.cur.openAcked {
		Recycle(&rec)
		return Record{}, false
	}
	q.cur.inflight = append(q.cur.inflight, inflight{seq: rec.Seq})
	return rec, true
}

// advanceLocked moves the cursor past a finished sealed segment, to the
// start of whichever segment comes next (perhaps one not created yet).
func (q *queue) advanceLocked(seg *segment) {
	q.cur.seg, q.cur.off = seg.id+1, int64(headerSize)
	q.deleteReleasedLocked()
}

// quarantineLocked moves a corrupt sealed segment aside. Its batches not yet
// handed out are not shipped; they stay in the quarantine directory.
func (q *queue) quarantineLocked(seg *segment) {
	if seg.rf != nil {
		seg.rf.Close()
		seg.rf = nil
	}
	if err := q.moveToQuarantine(seg.path); err != nil {
		q.log.Error("spool: cannot quarantine segment", zap.String("segment", seg.path), zap.Error(err))
	}
	q.corruptSegments.Add(1)
	q.removeSegLocked(seg)
}

func (q *queue) removeSegLocked(seg *segment) {
	for i, x := range q.segs {
		if x == seg {
			q.segs = append(q.segs[:i], q.segs[i+1:]...)
			q.bytes -= seg.size
			break
		}
	}
	q.broadcast()
}

// deleteReleasedLocked removes sealed segments the cursor has passed whose
// every batch is released. The active segment is never sealed.
func (q *queue) deleteReleasedLocked() {
	for i := 0; i < len(q.segs); i++ {
		seg := q.segs[i]
		if !seg.sealed || seg.id >= q.cur.seg || seg.released < seg.records {
			continue
		}
		if seg.rf != nil {
			seg.rf.Close()
			seg.rf = nil
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.removeFault.fail(q.log, "spool: cannot remove released segment; retrying at every release", zap.String("segment", seg.path), zap.Error(err))
			continue
		}
		q.removeFault.ok()
		q.removeSegLocked(seg)
		i--
	}
}

// release marks a record the cursor handed out as done; see
// Spool.Release.
func (q *queue) release(rec Record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if seg := q.segByID(rec.segment); seg != nil {
		seg.released++
	}
	c := &q.cur
	for i := range c.inflight {
		if c.inflight[i].seq == rec.Seq {
			c.inflight[i].done = true
			break
		}
	}
	n := 0
	for n < len(c.inflight) && c.inflight[n].done {
		c.ackedThrough = c.inflight[n].seq
		n++
	}
	c.inflight = append(c.inflight[:0], c.inflight[n:]...)
	q.deleteReleasedLocked()
	if c.ackedThrough != c.ackedSaved && time.Since(c.ackedSavedAt) >= ackedSaveEvery && !q.closed {
		q.saveAckedLocked()
	}
	q.broadcast()
}

// saveAckedLocked rewrites the acknowledged mark; a failure is retried a
// second later. The mark only spares re-sends after a restart.
func (q *queue) saveAckedLocked() {
	c := &q.cur
	c.ackedSavedAt = time.Now()
	if err := writeUint(filepath.Join(q.dir, ackedFile), c.ackedThrough, false); err != nil {
		c.ackedFault.fail(q.log, "spool: cannot save acknowledged mark; retrying", zap.Error(err))
		return
	}
	c.ackedSaved = c.ackedThrough
	c.ackedFault.ok()
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
