package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/internal/atomicfile"
)

// Files under --data.
const (
	legacyCheckpointFile = "checkpoint.json" // pre-release state, no longer read
	idFile               = "collector-id"
	walDir               = "wal"
	quarantineDir        = "quarantine"
)

// A checkpoint is a complete snapshot of the collector's state at an
// applied WAL LSN: the ledger and every open window. Recovery loads it and
// replays only the WAL records after that LSN. It is written atomically to
// checkpoint-<flush seq>.bin after every flush; the newest two are kept,
// and the WAL keeps every record above the older one's LSN, so a newest
// file found corrupt falls back to the one before. The byte layout is in
// docs/checkpoint-format.md.
type checkpoint struct {
	// FlushSeq is the last committed flush: output files named with a
	// higher flush seq were written but never committed, and are deleted.
	FlushSeq uint64
	// AppliedLSN is the last WAL record the ledger and windows include.
	AppliedLSN uint64
	// WALSegment is the first WAL segment holding records above
	// AppliedLSN: older segments are never read.
	WALSegment int
	// IngestNs is the ingest clock's reading when it was taken (version
	// 3; older ones leave it 0 and the ledger's newest arrival stands in).
	IngestNs int64
	Ledger   *ledger.Ledger
	Windows  []*window.Window
	// Presences are the endpoint presences (version 4; nil before).
	Presences *presences

	path string // the file it was read from, "" for none
}

const (
	checkpointPrefix  = "checkpoint-"
	checkpointSuffix  = ".bin"
	checkpointMagic   = "RDCKPT\r\n"
	checkpointVersion = 4 // 4: windows hold the stream tables' state
	// checkpointHeader: magic, version, flush seq, applied LSN, WAL
	// segment, ingest clock (version 3), body length.
	checkpointHeader   = 8 + 4 + 8 + 8 + 8 + 8 + 8
	checkpointHeaderV2 = checkpointHeader - 8
)

// checkpointName is the file of the checkpoint committing flush seq.
func checkpointName(seq uint64) string {
	return fmt.Sprintf("%s%010d%s", checkpointPrefix, seq, checkpointSuffix)
}

// CorruptCheckpointError reports a checkpoint file that cannot be read
// back: a bad checksum, a truncated file, an unknown version. The collector
// refuses to start on one rather than start empty and lose or double count
// what it held.
type CorruptCheckpointError struct {
	Path string
	Err  error
}

func (e *CorruptCheckpointError) Error() string {
	return fmt.Sprintf("checkpoint %s is corrupt: %v", e.Path, e.Err)
}

func (e *CorruptCheckpointError) Unwrap() error { return e.Err }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendCheckpointBody appends the header and body of a checkpoint; the
// caller finishes it with finishCheckpoint (the checksum), which the
// flusher does so the ingest loop spends no time on it.
func appendCheckpointBody(dst []byte, seq, applied uint64, walSegment int, ingestNs int64, l *ledger.Ledger, ws []*window.Window, ps *presences) []byte {
	start := len(dst)
	dst = append(dst, checkpointMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, checkpointVersion)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, applied)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(walSegment))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ingestNs))
	dst = binary.LittleEndian.AppendUint64(dst, 0) // body length, below
	body := len(dst)
	dst = l.AppendBinary(dst)
	dst = binary.AppendUvarint(dst, uint64(len(ws)))
	for _, w := range ws {
		dst = window.AppendSnapshot(dst, w)
	}
	dst = ps.appendBinary(dst)
	binary.LittleEndian.PutUint64(dst[start+checkpointHeader-8:], uint64(len(dst)-body))
	return dst
}

// finishCheckpoint appends the CRC-32C of everything before it.
func finishCheckpoint(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCheckpoint reads a whole checkpoint file: version 4; version 3
// (before the stream tables: its windows hold inference groups only); or
// version 2 (also before the ingest clock; its ledger is ledger version 1).
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < checkpointHeaderV2+4 || string(b[:8]) != checkpointMagic {
		return nil, errors.New("not a checkpoint file")
	}
	version := binary.LittleEndian.Uint32(b[8:])
	header, ledgerVersion := checkpointHeader, ledger.BinaryVersion
	switch version {
	case checkpointVersion, 3:
	case 2:
		header, ledgerVersion = checkpointHeaderV2, 1
	default:
		return nil, fmt.Errorf("checkpoint version %d not supported", version)
	}
	if len(b) < header+4 {
		return nil, errors.New("not a checkpoint file")
	}
	n := binary.LittleEndian.Uint64(b[header-8:])
	if n != uint64(len(b)-header-4) {
		return nil, fmt.Errorf("body length %d, file holds %d bytes", n, len(b)-header-4)
	}
	sum := binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(b[:len(b)-4], castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, sum)
	}
	cp := &checkpoint{
		FlushSeq:   binary.LittleEndian.Uint64(b[12:]),
		AppliedLSN: binary.LittleEndian.Uint64(b[20:]),
	}
	seg := binary.LittleEndian.Uint64(b[28:])
	if seg > 1<<31 {
		return nil, fmt.Errorf("wal segment %d out of range", seg)
	}
	cp.WALSegment = int(seg)
	if version >= 3 {
		cp.IngestNs = int64(binary.LittleEndian.Uint64(b[36:]))
	}
	l, rest, err := ledger.ReadBinary(b[header:len(b)-4], ledgerVersion)
	if err != nil {
		return nil, err
	}
	cp.Ledger = l
	nw, k := binary.Uvarint(rest)
	if k <= 0 || nw > uint64(len(rest)) {
		return nil, errors.New("bad window count")
	}
	rest = rest[k:]
	for i := uint64(0); i < nw; i++ {
		read := window.ReadSnapshot
		if version < 4 {
			read = window.ReadSnapshotV3
		}
		w, r, err := read(rest)
		if err != nil {
			return nil, err
		}
		cp.Windows = append(cp.Windows, w)
		rest = r
	}
	if version >= 4 {
		if cp.Presences, rest, err = readPresences(rest); err != nil {
			return nil, err
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the last window", len(rest))
	}
	return cp, nil
}

// parseCheckpointName returns the flush seq a checkpoint file commits.
func parseCheckpointName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, checkpointPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, checkpointSuffix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

// checkpointFiles lists the checkpoint files in dir, newest (highest flush
// seq) first.
func checkpointFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	type file struct {
		seq  uint64
		name string
	}
	var fs []file
	for _, e := range ents {
		seq, ok := parseCheckpointName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		fs = append(fs, file{seq, e.Name()})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].seq > fs[j].seq })
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = filepath.Join(dir, f.name)
	}
	return out, nil
}

// readCheckpoint reads and checks one checkpoint file. Damage is a
// *CorruptCheckpointError; failing to read it at all is another error.
func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return nil, &CorruptCheckpointError{Path: path, Err: err}
	}
	cp.path = path
	return cp, nil
}

// loadResult is what loadCheckpoint found.
type loadResult struct {
	cp *checkpoint
	// corrupt is the newest file, found corrupt, when cp is the one before
	// it (the WAL still holds every record above that one's LSN).
	corrupt *CorruptCheckpointError
}

// loadCheckpoint reads the newest checkpoint in dir, falling back to the
// one before it when the newest is corrupt. With no checkpoint file at all
// it returns an empty state, unless a pre-release checkpoint.json is there:
// its state is not read any more, and starting empty beside it would count
// again what it held.
func loadCheckpoint(dir string) (loadResult, error) {
	files, err := checkpointFiles(dir)
	if err != nil {
		return loadResult{}, err
	}
	if len(files) == 0 {
		legacy := filepath.Join(dir, legacyCheckpointFile)
		if _, err := os.Stat(legacy); err == nil {
			return loadResult{}, fmt.Errorf("%s holds state from a pre-release readout that this version does not read: "+
				"stop with that version (it writes a current checkpoint at SIGTERM) before upgrading", legacy)
		}
		return loadResult{cp: &checkpoint{Ledger: ledger.New()}}, nil
	}
	cp, err := readCheckpoint(files[0])
	if err == nil {
		return loadResult{cp: cp}, nil
	}
	var ce *CorruptCheckpointError
	if !errors.As(err, &ce) {
		return loadResult{}, err
	}
	if len(files) < 2 {
		return loadResult{}, fmt.Errorf("%w; no older checkpoint to fall back to: refusing to start without the state", ce)
	}
	prev, perr := readCheckpoint(files[1])
	if perr != nil {
		return loadResult{}, fmt.Errorf("%w; the one before it failed too: %v", ce, perr)
	}
	return loadResult{cp: prev, corrupt: ce}, nil
}

// pruneCheckpoints deletes every checkpoint file but the newest two, and a
// pre-release checkpoint.json, once a newer checkpoint is committed.
func pruneCheckpoints(dir string) error {
	files, err := checkpointFiles(dir)
	if err != nil {
		return err
	}
	if len(files) > 2 {
		files = files[2:]
	} else {
		files = nil
	}
	files = append(files, filepath.Join(dir, legacyCheckpointFile))
	removed := false
	for _, f := range files {
		err := os.Remove(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old checkpoint: %w", err)
		}
		removed = removed || err == nil
	}
	if removed {
		return atomicfile.SyncDir(dir)
	}
	return nil
}

// loadOrCreateID returns the collector's id, kept in --data so that file
// names stay distinct from other collectors writing to the same --out and
// stable across restarts.
func loadOrCreateID(dir string) (uuid.UUID, error) {
	path := filepath.Join(dir, idFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id, perr := uuid.ParseBytes(trimSpace(b))
		if perr != nil {
			return uuid.Nil, fmt.Errorf("parse %s: %w", path, perr)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return uuid.Nil, fmt.Errorf("read %s: %w", path, err)
	}
	id := uuid.New()
	if err := atomicfile.WriteFile(path, []byte(id.String()+"\n")); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
