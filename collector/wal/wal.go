package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/readout-dev/readout/internal/atomicfile"
)

// DefaultSegmentSize is the size past which the log starts a new segment.
// Segments are the unit of truncation, so smaller ones free disk sooner.
const DefaultSegmentSize = 32 << 20

const segmentSuffix = ".wal"

// Options configures Open. The zero value of a field means its default.
type Options struct {
	SegmentSize int64  // start a new segment past this many bytes
	Quarantine  string // folder for copies of damaged segments; required to repair them
	// SkipBelow and SkipLSN come from a state checkpoint: segments with an
	// index below SkipBelow hold only records with LSN <= SkipLSN, which
	// the checkpoint already covers. Open does not read them, so damage in
	// them can do no harm; RemoveThrough deletes them like any other.
	SkipBelow int
	SkipLSN   uint64
}

// Recovery says what Open found and repaired.
type Recovery struct {
	Records     int      // intact records replayed
	LastLSN     uint64   // highest LSN replayed, 0 when none
	TornTails   int      // records cut short by a crash, truncated away
	Quarantined []string // paths of copies of segments that were corrupt mid-file
	LostBytes   int64    // bytes after a damaged record that were cut off
	Damage      []Damage // where each torn tail or corruption was found
}

// Damage locates one damaged segment found at open.
type Damage struct {
	Segment string // path of the segment in the log
	Offset  int64  // where the first bad record starts
	Torn    bool   // a crash's torn tail (truncated), not corruption (quarantined)
	Copy    string // the quarantined copy, for corruption
	Err     error
}

type segment struct {
	index    int
	firstLSN uint64 // 0 while it holds no record
	lastLSN  uint64 // 0 while it holds no record
	size     int64
	skipped  bool // not read at open (below Options.SkipBelow); LSNs are bounds
}

// WAL is an append-only log in a folder of segment files. It is not safe for
// concurrent use: the collector's single ingest loop owns it.
type WAL struct {
	dir     string
	opts    Options
	segs    []segment // oldest first; the last one is active
	f       *os.File  // the active segment, open for appending
	lastLSN uint64
	broken  error // set when a failed commit could not be undone
}

func segmentName(index int) string { return fmt.Sprintf("%08d%s", index, segmentSuffix) }

// Open opens or creates the log in dir, calls replay with every intact record
// in LSN order, and repairs damage: a torn tail is truncated; a damaged record
// elsewhere is reported, its segment copied into opts.Quarantine and cut at the
// damage, so a bad disk block never turns into a crash loop. An error from
// replay aborts Open.
func Open(dir string, opts Options, replay func(lsn uint64, payload []byte) error) (*WAL, Recovery, error) {
	var rec Recovery
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, rec, fmt.Errorf("create wal dir: %w", err)
	}
	indexes, err := listSegments(dir)
	if err != nil {
		return nil, rec, err
	}
	w := &WAL{dir: dir, opts: opts}
	for i, idx := range indexes {
		if idx < opts.SkipBelow {
			// Covered by the checkpoint: only its LSN bound matters.
			w.segs = append(w.segs, segment{index: idx, firstLSN: opts.SkipLSN, lastLSN: opts.SkipLSN, skipped: true})
			continue
		}
		seg, err := w.replaySegment(idx, i == len(indexes)-1, replay, &rec)
		if err != nil {
			return nil, rec, err
		}
		w.segs = append(w.segs, seg)
	}
	rec.LastLSN = w.lastLSN
	if opts.SkipLSN > w.lastLSN {
		w.lastLSN = opts.SkipLSN
	}
	var create int // the index of a new active segment, 0 to append to the last one
	switch {
	case len(w.segs) == 0:
		create = max(1, opts.SkipBelow)
	case w.segs[len(w.segs)-1].skipped:
		// Never append to a segment that was not read.
		create = w.segs[len(w.segs)-1].index + 1
	}
	if create > 0 {
		if err := w.createSegment(create); err != nil {
			return nil, rec, err
		}
	} else {
		next := w.segs[len(w.segs)-1].index
		f, err := os.OpenFile(filepath.Join(dir, segmentName(next)), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, rec, fmt.Errorf("open segment: %w", err)
		}
		w.f = f
	}
	return w, rec, nil
}

func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir: %w", err)
	}
	var out []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

func (w *WAL) replaySegment(idx int, last bool, replay func(uint64, []byte) error, rec *Recovery) (segment, error) {
	name := segmentName(idx)
	path := filepath.Join(w.dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return segment{}, fmt.Errorf("read segment %s: %w", name, err)
	}
	seg := segment{index: idx, size: int64(len(b))}
	err = ScanRecords(name, b, func(lsn uint64, payload []byte) error {
		if lsn <= w.lastLSN {
			return &CorruptionError{Segment: name, Offset: -1, Err: fmt.Errorf("lsn %d not above %d", lsn, w.lastLSN)}
		}
		if err := replay(lsn, payload); err != nil {
			return fmt.Errorf("replay lsn %d: %w", lsn, err)
		}
		rec.Records++
		w.lastLSN, seg.lastLSN = lsn, lsn
		if seg.firstLSN == 0 {
			seg.firstLSN = lsn
		}
		return nil
	})
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return seg, err
	}
	if ce.Offset < 0 {
		// Out-of-order LSN across segments: the segment cannot be trusted.
		ce.Offset = 0
	}
	d := Damage{Segment: path, Offset: ce.Offset, Torn: ce.Torn() && last, Err: ce.Err}
	if !d.Torn {
		q, qerr := w.quarantine(path, name)
		if qerr != nil {
			return seg, fmt.Errorf("%v; quarantine: %w", ce, qerr)
		}
		rec.Quarantined = append(rec.Quarantined, q)
		d.Copy = q
	} else {
		rec.TornTails++
	}
	rec.Damage = append(rec.Damage, d)
	rec.LostBytes += int64(len(b)) - ce.Offset
	if err := os.Truncate(path, ce.Offset); err != nil {
		return seg, fmt.Errorf("truncate %s at %d: %w", name, ce.Offset, err)
	}
	if err := syncFile(path); err != nil {
		return seg, err
	}
	seg.size = ce.Offset
	return seg, nil
}

// quarantine copies a damaged segment aside so nothing is destroyed that a
// person might want to inspect, before the original is cut at the damage.
func (w *WAL) quarantine(path, name string) (string, error) {
	if w.opts.Quarantine == "" {
		return "", errors.New("no quarantine folder configured")
	}
	if err := os.MkdirAll(w.opts.Quarantine, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(w.opts.Quarantine, fmt.Sprintf("%s.%d", name, time.Now().UnixNano()))
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

func (w *WAL) createSegment(index int) error {
	f, err := os.OpenFile(filepath.Join(w.dir, segmentName(index)), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f = f
	w.segs = append(w.segs, segment{index: index})
	return nil
}

// LastLSN is the highest LSN in the log (replayed or committed), 0 if none.
func (w *WAL) LastLSN() uint64 { return w.lastLSN }

// ActiveSegment names the segment Commit appends to, for error reports.
func (w *WAL) ActiveSegment() string { return segmentName(w.segs[len(w.segs)-1].index) }

// Size is the active segment's size in bytes: where the next commit starts.
func (w *WAL) Size() int64 { return w.segs[len(w.segs)-1].size }

// Commit appends records (AppendRecord output, LSNs increasing, the last one
// being lastLSN) and fsyncs them: when it returns nil they are durable. When
// it fails it truncates the segment back to where it was, so the log holds
// nothing of the failed group; if even that fails, the log refuses every
// later commit.
func (w *WAL) Commit(records []byte, lastLSN uint64) error {
	if w.broken != nil {
		return w.broken
	}
	if lastLSN <= w.lastLSN {
		return fmt.Errorf("commit lsn %d not above %d", lastLSN, w.lastLSN)
	}
	if w.Size() >= w.opts.SegmentSize {
		if err := w.createSegment(w.segs[len(w.segs)-1].index + 1); err != nil {
			return err
		}
	}
	seg := &w.segs[len(w.segs)-1]
	_, err := w.f.Write(records)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		if terr := w.f.Truncate(seg.size); terr != nil {
			w.broken = fmt.Errorf("wal unusable after failed commit to %s at offset %d: %w", segmentName(seg.index), seg.size, terr)
		}
		return fmt.Errorf("commit to %s at offset %d: %w", segmentName(seg.index), seg.size, err)
	}
	if seg.firstLSN == 0 {
		if first, _, _, err := ParseRecord(records); err == nil {
			seg.firstLSN = first
		}
	}
	seg.size += int64(len(records))
	seg.lastLSN = lastLSN
	w.lastLSN = lastLSN
	return nil
}

// RemoveThrough deletes every segment whose records all have LSN <= lsn:
// their content is committed elsewhere. The active segment is first closed
// and replaced by a new one when it qualifies, so an idle log ends empty.
// It returns how many segments it removed.
func (w *WAL) RemoveThrough(lsn uint64) (int, error) {
	active := w.segs[len(w.segs)-1]
	if active.size > 0 && active.lastLSN <= lsn {
		if err := w.createSegment(active.index + 1); err != nil {
			return 0, err
		}
	}
	removed := 0
	for len(w.segs) > 1 && w.segs[0].lastLSN <= lsn {
		if err := os.Remove(filepath.Join(w.dir, segmentName(w.segs[0].index))); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("remove segment: %w", err)
		}
		w.segs = w.segs[1:]
		removed++
	}
	if removed > 0 {
		return removed, atomicfile.SyncDir(w.dir)
	}
	return 0, nil
}

// Rotate starts a new active segment unless the active one is empty, so
// that every record committed from now on lands in a segment holding no
// older record. It returns the index of the active segment: a checkpoint
// covering every record so far names it as the first one recovery reads.
func (w *WAL) Rotate() (int, error) {
	active := w.segs[len(w.segs)-1]
	if active.size == 0 {
		return active.index, nil
	}
	if err := w.createSegment(active.index + 1); err != nil {
		return active.index, err
	}
	return active.index + 1, nil
}

// BytesFrom is the size of the segments with index >= from that were read
// or written by this process: what a recovery from a checkpoint naming
// segment from would replay.
func (w *WAL) BytesFrom(from int) int64 {
	var n int64
	for _, s := range w.segs {
		if s.index >= from {
			n += s.size
		}
	}
	return n
}

// Broken reports whether a failed commit could not be undone, so the log
// refuses every commit until it is reopened.
func (w *WAL) Broken() bool { return w.broken != nil }

// Segments is the number of segment files, the active one included.
func (w *WAL) Segments() int { return len(w.segs) }

// Close closes the active segment.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
