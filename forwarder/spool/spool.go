// Package spool is the forwarder's durable on-disk queue: sealed batches
// appended to segment files with a checksum per record, fsynced in groups,
// read back in order by one shipper cursor, and released (deleted a segment
// at a time) once the collector has acknowledged every batch in a segment.
// See docs/spool-format.md for the bytes on disk.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/internal/atomicfile"
)

// Defaults for Options.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 64 << 20
	segmentSuffix       = ".seg"
	quarantineDir       = "quarantine"
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

type segment struct {
	id       uint64
	path     string
	size     int64 // bytes written
	synced   int64 // bytes known durable; the cursor reads only these
	records  int
	released int
	sealed   bool // no longer written; every byte is synced
	corrupt  bool // a read found bad bytes; quarantine once sealed
	rf       *os.File
}

type inflight struct {
	seq  uint64
	done bool
}

// Spool is safe for concurrent use, except that Next must be called from
// one goroutine at a time (it is the single in-order shipping cursor).
type Spool struct {
	dir, qdir    string
	maxBytes     int64
	segmentBytes int64
	log          *zap.Logger

	wmu      sync.Mutex // serialises Append, Sync and rotation
	wf       *os.File   // the active segment, for writing; nil when there is none
	nextID   uint64     // id of the next segment to create
	dirtyTo  int64      // >= 0: the active file must be cut back to this size first
	floor    uint64     // batch seqs below floor are durably reserved
	hdr      []byte
	compress bool
	zbuf     []byte

	mu           sync.Mutex
	segs         []*segment // oldest first
	wseg         *segment   // the active segment, last in segs; nil between a seal and its successor
	bytes        int64
	next         uint64 // next batch seq
	openAcked    uint64 // records with seq <= openAcked were released before this run
	ackedThrough uint64 // every batch handed out up to here is released
	ackedSaved   uint64
	ackedSavedAt time.Time
	curSeg       uint64
	curOff       int64
	inflight     []inflight
	hand         []handed // copies of appended batches for the cursor, in append order
	handBytes    int
	changed      chan struct{}
	closed       bool
	full         bool
	rotateReq    bool
	ackedFault   faultLog // saving the acknowledged mark fails
	removeFault  faultLog // deleting released segments fails

	tornTails, corruptSegments atomic.Uint64
}

// Open opens or creates the spool in dir: it scans every segment, truncates
// a torn tail of the newest one, moves corrupt segments to dir/quarantine,
// and starts a fresh active segment.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SegmentBytes > opts.MaxBytes/4 {
		opts.SegmentBytes = opts.MaxBytes / 4
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Compression == "" {
		opts.Compression = CompressionS2
	}
	if opts.Compression != CompressionS2 && opts.Compression != CompressionNone {
		return nil, fmt.Errorf("spool: unknown compression %q: want %q or %q", opts.Compression, CompressionS2, CompressionNone)
	}
	s := &Spool{
		dir:          dir,
		qdir:         filepath.Join(dir, quarantineDir),
		maxBytes:     opts.MaxBytes,
		segmentBytes: opts.SegmentBytes,
		log:          opts.Logger,
		changed:      make(chan struct{}),
		compress:     opts.Compression == CompressionS2,
	}
	if err := os.MkdirAll(s.qdir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	ids, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	s.openAcked = readUint(filepath.Join(dir, ackedFile))
	s.ackedThrough, s.ackedSaved = s.openAcked, s.openAcked
	s.floor = readUint(filepath.Join(dir, seqFloorFile))
	var maxSeq uint64
	for i, id := range ids {
		seg, segMax, err := s.loadSegment(id, i == len(ids)-1)
		if err != nil {
			return nil, err
		}
		if segMax > maxSeq {
			maxSeq = segMax
		}
		if seg != nil {
			s.segs = append(s.segs, seg)
			s.bytes += seg.size
		}
	}
	s.next = max(s.floor, maxSeq+1, s.openAcked+1)
	s.nextID, s.dirtyTo = 1, -1
	if len(ids) > 0 {
		s.nextID = ids[len(ids)-1] + 1
	}
	s.curSeg, s.curOff = s.nextID, int64(headerSize)
	if len(s.segs) > 0 {
		s.curSeg = s.segs[0].id
	}
	if err := s.startSegment(); err != nil {
		if !isNoSpace(err) {
			return nil, err
		}
		// Shipping what is here is what frees the disk; the first append
		// creates the segment once it can.
		s.log.Warn("spool: disk full at open; appends wait for shipping to free space", zap.Error(err))
	}
	return s, nil
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentSuffix) }

func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list spool: %w", err)
	}
	var ids []uint64
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// loadSegment scans one segment at open. It returns nil for a segment that
// was empty or moved to quarantine.
func (s *Spool) loadSegment(id uint64, last bool) (*segment, uint64, error) {
	path := filepath.Join(s.dir, segmentName(id))
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open segment %d: %w", id, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat segment %d: %w", id, err)
	}
	seg := &segment{id: id, path: path, sealed: true}
	var maxSeq uint64
	end, err := scanSegment(segmentName(id), f, func(rec Record, _ int64) {
		seg.records++
		if rec.Seq <= s.openAcked {
			seg.released++
		}
		maxSeq = max(maxSeq, rec.Seq)
	})
	var cerr *CorruptionError
	switch {
	case err == nil:
	case errors.As(err, &cerr) && last && isTornTail(f, fi.Size(), cerr):
		s.tornTails.Add(1)
		s.log.Warn("spool: truncating torn tail", zap.String("segment", path), zap.Int64("offset", end), zap.Int64("size", fi.Size()), zap.Error(err))
		if end < int64(headerSize) {
			// Not even the header survived: there is nothing to keep.
			return nil, maxSeq, removeFile(path)
		}
		if err := truncateSync(path, end); err != nil {
			return nil, 0, fmt.Errorf("truncate segment %d: %w", id, err)
		}
	case errors.As(err, &cerr):
		s.corruptSegments.Add(1)
		s.log.Error("spool: corrupt segment moved to quarantine", zap.String("segment", path), zap.Error(err))
		if err := s.moveToQuarantine(path); err != nil {
			return nil, 0, err
		}
		return nil, maxSeq, nil
	default:
		return nil, 0, fmt.Errorf("scan segment %d: %w", id, err)
	}
	if seg.records == 0 {
		return nil, maxSeq, removeFile(path)
	}
	seg.size, seg.synced = end, end
	return seg, maxSeq, nil
}

// isTornTail decides whether bad bytes at the end of the newest segment are
// an interrupted write (truncate) rather than damage (quarantine): a record
// cut short, a bad checksum on a record that reaches the end of the file, or
// a bad length followed by nothing but zeros (space the file system
// allocated but never filled).
func isTornTail(f *os.File, size int64, cerr *CorruptionError) bool {
	switch {
	case errors.Is(cerr.Err, ErrTruncated):
		return true
	case errors.Is(cerr.Err, ErrBadChecksum):
		var h [4]byte
		if _, err := f.ReadAt(h[:], cerr.Offset); err != nil {
			return false
		}
		plen := int64(h[0]) | int64(h[1])<<8 | int64(h[2])<<16 | int64(h[3])<<24
		return cerr.Offset+recordHeaderSize+plen >= size
	case errors.Is(cerr.Err, ErrBadLength):
		rest := io.NewSectionReader(f, cerr.Offset, size-cerr.Offset)
		buf := make([]byte, 32<<10)
		for {
			n, err := rest.Read(buf)
			for _, b := range buf[:n] {
				if b != 0 {
					return false
				}
			}
			if err != nil {
				return err == io.EOF
			}
		}
	}
	return false
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", filepath.Base(path), err)
	}
	return nil
}

// moveToQuarantine renames a segment into the quarantine directory; nothing
// is ever deleted for being corrupt.
func (s *Spool) moveToQuarantine(path string) error {
	dst := filepath.Join(s.qdir, filepath.Base(path))
	if _, err := os.Stat(dst); err == nil {
		dst += "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("quarantine %s: %w", filepath.Base(path), err)
	}
	return atomicfile.SyncDir(s.dir)
}

// startSegment creates the next segment and makes it the active one.
// Callers hold wmu (or are Open). On failure nothing is left behind, so a
// later attempt can create the same segment.
func (s *Spool) startSegment() error {
	id := s.nextID
	path := filepath.Join(s.dir, segmentName(id))
	f, err := createSegment(s.dir, path)
	if err != nil {
		return fmt.Errorf("create segment %s: %w", segmentName(id), err)
	}
	s.wf, s.dirtyTo = f, -1
	s.nextID++
	seg := &segment{id: id, path: path, size: int64(headerSize)}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.wseg = seg
	s.bytes += int64(headerSize)
	// The cursor may be waiting at the end of the segment just sealed for
	// a successor to move on to.
	s.broadcast()
	s.mu.Unlock()
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

// isNoSpace reports whether err means the file system (or the quota) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// broadcast wakes every waiter. Callers hold mu.
func (s *Spool) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Spool) segByID(id uint64) *segment {
	for _, seg := range s.segs {
		if seg.id == id {
			return seg
		}
	}
	return nil
}

// Stats returns a snapshot for metrics.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Bytes: s.bytes, Segments: len(s.segs), Full: s.full,
		TornTails: s.tornTails.Load(), CorruptSegments: s.corruptSegments.Load()}
	for _, seg := range s.segs {
		st.Pending += seg.records - seg.released
	}
	return st
}

// QuarantineDir returns the directory corrupt data is moved to.
func (s *Spool) QuarantineDir() string { return s.qdir }

// WaitDrained blocks until no batch is pending or ctx ends.
func (s *Spool) WaitDrained(ctx context.Context) error {
	for {
		st := s.Stats()
		if st.Pending == 0 {
			return nil
		}
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Close syncs the active segment and saves the acknowledged mark (a mark
// that cannot be saved is logged, not returned: it only spares re-sends).
// Pending batches stay on disk for the next Open.
func (s *Spool) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.broadcast()
	for _, seg := range s.segs {
		if seg.rf != nil {
			seg.rf.Close()
			seg.rf = nil
		}
	}
	acked := s.ackedThrough
	s.hand, s.handBytes = nil, 0
	s.mu.Unlock()
	var err error
	if s.wf != nil { // nil after a seal whose successor could not be created
		if err = s.cutTail(); err == nil {
			err = s.wf.Sync()
		}
		if cerr := s.wf.Close(); err == nil {
			err = cerr
		}
		s.wf = nil
	}
	if werr := writeUint(filepath.Join(s.dir, ackedFile), acked, true); werr != nil {
		// The mark only spares re-sends after the restart; failing to
		// save it (say on a full disk) loses nothing.
		lvl := zap.WarnLevel
		if isNoSpace(werr) {
			lvl = zap.InfoLevel
		}
		s.log.Log(lvl, "spool: cannot save acknowledged mark at close; acknowledged batches may be sent again after a restart", zap.Error(werr))
	}
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}
