// Package spool is the forwarder's durable on-disk queue: sealed batches
// appended to segment files with a checksum per record, fsynced in groups,
// read back in order by one shipper cursor, and released (deleted a segment
// at a time) once the collector has acknowledged every batch in a segment.
// See docs/spool-format.md for the bytes on disk.
//
// A Spool is two parts with one job each, the way VictoriaMetrics'
// persistentqueue keeps its FastQueue in front of a file-only queue: the
// queue (queue.go, writer.go, cursor.go) holds every record in its files
// and knows nothing else; the handoff (handoff.go) keeps copies of records
// just appended, so that a cursor that keeps up takes them from memory
// instead of reading them back. Every record is in the file, and fsynced,
// before the cursor can see it, from memory or not.
package spool

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"
)

// Defaults for Options.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 64 << 20
)

var (
	// ErrFull means the record does not fit under the spool's size cap.
	ErrFull = errors.New("spool: full")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("spool: closed")
)

// Options tune a spool; zero values mean the defaults.
type Options struct {
	// MaxBytes caps the bytes of all segment files together.
	MaxBytes int64
	// SegmentBytes is the size past which the active segment is rotated.
	// It is clamped to MaxBytes/4 so that a full spool always holds
	// segments that can be released.
	SegmentBytes int64
	// Compression is how records store their events; "" means
	// CompressionS2.
	Compression Compression
	Logger      *zap.Logger
}

// Compression says how a record stores its events (see
// docs/spool-format.md); records of either kind are read back the same.
type Compression string

const (
	// CompressionS2 stores a record's events as one S2 block when that is
	// smaller than the events.
	CompressionS2 Compression = "s2"
	// CompressionNone stores events as they are.
	CompressionNone Compression = "none"
)

// Stats is a snapshot of the spool for metrics.
type Stats struct {
	Bytes           int64  // bytes of segment files
	Segments        int    // segment files, the active one included
	Pending         int    // batches written and not yet released
	Full            bool   // the last append did not fit
	TornTails       uint64 // torn tails truncated at open
	CorruptSegments uint64 // segments moved to quarantine
}

// Spool is safe for concurrent use, except that Next must be called from
// one goroutine at a time (it is the single in-order shipping cursor).
type Spool struct {
	// wmu serialises Append, Sync and Close: a record is written to the
	// file, then handed off, and only then can a Sync make it visible, so
	// the cursor finds every record it may take in the handoff.
	wmu sync.Mutex
	q   *queue
	h   handoff
}

// Open opens or creates the spool in dir: it scans every segment, truncates
// a torn tail of the newest one, moves corrupt segments to dir/quarantine,
// and starts a fresh active segment.
func Open(dir string, opts Options) (*Spool, error) {
	q, err := openQueue(dir, opts)
	if err != nil {
		return nil, err
	}
	return &Spool{q: q}, nil
}

// Append writes one sealed batch and returns the batch seq assigned to it.
// The batch is not durable, and not visible to Next, until Sync returns
// (or the segment is sealed, which syncs it). A failed append writes
// nothing that stays: see queue.write.
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
	at, size, seq, err := s.q.append(createdNs, count, events, force)
	if err != nil {
		return 0, false, err
	}
	kept := s.h.put(at, size, Record{Seq: seq, CreatedNs: createdNs, EventCount: count}, events, block)
	return seq, kept, nil
}

// Sync makes every appended batch durable and visible to Next.
func (s *Spool) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.q.sync()
}

// Next returns the next durable batch in append order, blocking until one
// is available or ctx ends. The record owns its Events. Every record Next
// returns must eventually be passed to Release (after the collector has
// acknowledged it, or it has been quarantined or replaced). Batches released
// before this process started are skipped. A corrupt segment found here is
// moved to quarantine and the cursor moves on.
func (s *Spool) Next(ctx context.Context) (Record, error) {
	for {
		at, err := s.q.wait(ctx)
		if err != nil {
			return Record{}, err
		}
		var rec Record
		var ok bool
		if h, found := s.h.take(at); found {
			rec, ok, err = s.q.pass(at, h.size, h.rec)
		} else {
			rec, ok, err = s.q.read(at)
		}
		if err != nil || ok {
			return rec, err
		}
	}
}

// Release marks a batch returned by Next as done: acknowledged by the
// collector, quarantined, or replaced by sealed halves. A segment is
// deleted once all its batches are released.
func (s *Spool) Release(rec Record) { s.q.release(rec) }

// WaitSpace blocks until a record of n event bytes fits under the cap
// (uncompressed, so it may wait for more room than the record takes).
func (s *Spool) WaitSpace(ctx context.Context, n int) error { return s.q.waitSpace(ctx, n) }

// WaitDrained blocks until no batch is pending or ctx ends.
func (s *Spool) WaitDrained(ctx context.Context) error { return s.q.waitDrained(ctx) }

// Stats returns a snapshot for metrics.
func (s *Spool) Stats() Stats { return s.q.stats() }

// QuarantineDir returns the directory corrupt data is moved to.
func (s *Spool) QuarantineDir() string { return s.q.qdir }

// Close syncs the active segment and saves the acknowledged mark (a mark
// that cannot be saved is logged, not returned: it only spares re-sends).
// Pending batches stay on disk for the next Open.
func (s *Spool) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.q.close()
	s.h.clear()
	return err
}
