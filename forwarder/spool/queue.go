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

const (
	segmentSuffix = ".seg"
	quarantineDir = "quarantine"
)

// queue is the spool's file-only queue: records appended to segment files
// by one writer (writer.go), read back in order by one cursor (cursor.go),
// and deleted a segment at a time once released. What it keeps in memory
// is only what it needs to find records in its files.
//
// The writer's methods (append, sync, close) are called by one goroutine
// at a time: the Spool serialises them. Everything else is safe for
// concurrent use, with wait, read and pass called by one cursor goroutine.
type queue struct {
	dir, qdir    string
	maxBytes     int64
	segmentBytes int64
	log          *zap.Logger

	w writer // the writer's own state, not shared with the cursor

	mu      sync.Mutex // guards the fields below
	segs    []*segment // oldest first
	wseg    *segment   // the active segment, last in segs; nil between a seal and its successor
	bytes   int64
	next    uint64 // next batch seq
	cur     cursor
	changed chan struct{} // closed and replaced at every change waiters care about
	closed  bool
	full    bool
	// rotateReq asks the next append to seal the active segment.
	rotateReq   bool
	removeFault faultLog // deleting released segments fails

	tornTails, corruptSegments atomic.Uint64
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

// position is where a record starts: its segment and offset in it.
type position struct {
	seg uint64
	off int64
}

// before reports whether p comes before o in append order.
func (p position) before(o position) bool {
	return p.seg < o.seg || (p.seg == o.seg && p.off < o.off)
}

// openQueue opens or creates the queue in dir; see Open.
func openQueue(dir string, opts Options) (*queue, error) {
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
	q := &queue{
		dir:          dir,
		qdir:         filepath.Join(dir, quarantineDir),
		maxBytes:     opts.MaxBytes,
		segmentBytes: opts.SegmentBytes,
		log:          opts.Logger,
		changed:      make(chan struct{}),
		w:            writer{compress: opts.Compression == CompressionS2},
	}
	if err := os.MkdirAll(q.qdir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	ids, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	q.cur.openAcked = readUint(filepath.Join(dir, ackedFile))
	q.cur.ackedThrough, q.cur.ackedSaved = q.cur.openAcked, q.cur.openAcked
	q.w.floor = readUint(filepath.Join(dir, seqFloorFile))
	var maxSeq uint64
	for i, id := range ids {
		seg, segMax, err := q.loadSegment(id, i == len(ids)-1)
		if err != nil {
			return nil, err
		}
		if segMax > maxSeq {
			maxSeq = segMax
		}
		if seg != nil {
			q.segs = append(q.segs, seg)
			q.bytes += seg.size
		}
	}
	q.next = max(q.w.floor, maxSeq+1, q.cur.openAcked+1)
	q.w.nextID, q.w.dirtyTo = 1, -1
	if len(ids) > 0 {
		q.w.nextID = ids[len(ids)-1] + 1
	}
	q.cur.seg, q.cur.off = q.w.nextID, int64(headerSize)
	if len(q.segs) > 0 {
		q.cur.seg = q.segs[0].id
	}
	if err := q.startSegment(); err != nil {
		if !isNoSpace(err) {
			return nil, err
		}
		// Shipping what is here is what frees the disk; the first append
		// creates the segment once it can.
		q.log.Warn("spool: disk full at open; appends wait for shipping to free space", zap.Error(err))
	}
	return q, nil
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
func (q *queue) loadSegment(id uint64, last bool) (*segment, uint64, error) {
	path := filepath.Join(q.dir, segmentName(id))
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
		if rec.Seq <= q.cur.openAcked {
			seg.released++
		}
		maxSeq = max(maxSeq, rec.Seq)
	})
	var cerr *CorruptionError
	switch {
	case err == nil:
	case errors.As(err, &cerr) && last && isTornTail(f, fi.Size(), cerr):
		q.tornTails.Add(1)
		q.log.Warn("spool: truncating torn tail", zap.String("segment", path), zap.Int64("offset", end), zap.Int64("size", fi.Size()), zap.Error(err))
		if end < int64(headerSize) {
			// Not even the header survived: there is nothing to keep.
			return nil, maxSeq, removeFile(path)
		}
		if err := truncateSync(path, end); err != nil {
			return nil, 0, fmt.Errorf("truncate segment %d: %w", id, err)
		}
	case errors.As(err, &cerr):
		q.corruptSegments.Add(1)
		q.log.Error("spool: corrupt segment moved to quarantine", zap.String("segment", path), zap.Error(err))
		if err := q.moveToQuarantine(path); err != nil {
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
func (q *queue) moveToQuarantine(path string) error {
	dst := filepath.Join(q.qdir, filepath.Base(path))
	if _, err := os.Stat(dst); err == nil {
		dst += "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("quarantine %s: %w", filepath.Base(path), err)
	}
	return atomicfile.SyncDir(q.dir)
}

// isNoSpace reports whether err means the file system (or the quota) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// broadcast wakes every waiter. Callers hold mu.
func (q *queue) broadcast() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *queue) segByID(id uint64) *segment {
	for _, seg := range q.segs {
		if seg.id == id {
			return seg
		}
	}
	return nil
}

// stats returns a snapshot for metrics.
func (q *queue) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Stats{Bytes: q.bytes, Segments: len(q.segs), Full: q.full,
		TornTails: q.tornTails.Load(), CorruptSegments: q.corruptSegments.Load()}
	for _, seg := range q.segs {
		st.Pending += seg.records - seg.released
	}
	return st
}

// waitDrained blocks until no batch is pending or ctx ends.
func (q *queue) waitDrained(ctx context.Context) error {
	for {
		st := q.stats()
		if st.Pending == 0 {
			return nil
		}
		q.mu.Lock()
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// close syncs the active segment and saves the acknowledged mark; see
// Spool.Close. It is a writer method.
func (q *queue) close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.broadcast()
	for _, seg := range q.segs {
		if seg.rf != nil {
			seg.rf.Close()
			seg.rf = nil
		}
	}
	acked := q.cur.ackedThrough
	q.mu.Unlock()
	var err error
	if q.w.f != nil { // nil after a seal whose successor could not be created
		if err = q.cutTail(); err == nil {
			err = q.w.f.Sync()
		}
		if cerr := q.w.f.Close(); err == nil {
			err = cerr
		}
		q.w.f = nil
	}
	if werr := writeUint(filepath.Join(q.dir, ackedFile), acked, true); werr != nil {
		// The mark only spares re-sends after the restart; failing to
		// save it (say on a full disk) loses nothing.
		lvl := zap.WarnLevel
		if isNoSpace(werr) {
			lvl = zap.InfoLevel
		}
		q.log.Log(lvl, "spool: cannot save acknowledged mark at close; acknowledged batches may be sent again after a restart", zap.Error(werr))
	}
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}
