package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A window's snapshot is its exact state, for the collector's checkpoint:
// restored, it aggregates on and writes the very rows it would have written
// without the restart. Layout (little-endian, varints as encoding/binary):
//
//	i64      start (Unix ns)
//	u64      reserved, written 0 (was the lowest LSN, which nothing read)
//	uvarint  S, then S strings (uvarint length, bytes): the key strings
//	uvarint  M, then M uvarint string indexes: the models counted for MaxModels
//	uvarint  G, then G groups:
//	         key: uvarint model index, backend index, account, colo,
//	              error code, source
//	         varint requests, errors, streamed, input tokens, output tokens,
//	                queue max, queue sum
//	         f64 neurons, 4 x f64 duration sums
//	         4 x bins: uvarint zero, u8 dense;
//	                   dense:  varint offset, uvarint n, n x uvarint count
//	                   sparse: uvarint pairs, pairs x (varint index delta,
//	                           uvarint count), indexes strictly increasing
//
//	then the stream tables (since checkpoint version 4; ReadSnapshotV3 reads
//	the older layout, which has none):
//	u8       1 if the window holds stream state, else 0 and nothing below
//	uvarint  instance_state groups: 4 x string index (deployment, hardware,
//	         compute unit, version), 6 x varint (reports, active, boot,
//	         idle, duration, concurrency ns), uvarint I, I x string (the
//	         distinct instance ids: uvarint length, bytes)
//	uvarint  predictions groups: 3 x string index (deployment, version,
//	         error code), uvarint status, 10 x varint (predictions,
//	         succeeded, failed, canceled, aborted, input tokens, output
//	         tokens, images, started, predict ns), bins
//	uvarint  downloads groups: 2 x string index (host, url), 4 x varint
//	         (downloads, errors, bytes, duration us), bins
//	uvarint  setup runs: string index (deployment), 2 x string (instance
//	         id, logs), uvarint status, 3 x varint (scheduled, started,
//	         completed ns), uvarint logs dropped
//	uvarint  lifecycle presences: 3 x string index (model, endpoint,
//	         hostname), 2 x varint (begin, end ns), u8 superseded
//
// Strings are written once per window: keys share a handful of model and
// backend names.

// ErrSnapshot is wrapped by every error ReadSnapshot returns.
var ErrSnapshot = errors.New("malformed window snapshot")

// maxDenseBins bounds a dense bins array read from a snapshot; the index
// mapping spans fewer buckets than this for every finite float64.
const maxDenseBins = 1 << 17

// AppendSnapshot appends w's snapshot to dst.
func AppendSnapshot(dst []byte, w *Window) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(w.Start))
	dst = binary.LittleEndian.AppendUint64(dst, 0) // reserved
	// The string table: w.strs holds every interned key string.
	ids := make(map[string]uint64, len(w.strs)+1)
	ids[""] = 0
	dst = binary.AppendUvarint(dst, uint64(len(w.strs)+1))
	dst = binary.AppendUvarint(dst, 0) // "" is string 0
	for s := range w.strs {
		ids[s] = uint64(len(ids))
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.models)))
	for m := range w.models {
		dst = binary.AppendUvarint(dst, ids[m])
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.groups)))
	for i := range w.groups {
		k, g := &w.keys[i], &w.groups[i]
		dst = binary.AppendUvarint(dst, ids[k.ModelID])
		dst = binary.AppendUvarint(dst, ids[k.Backend])
		dst = binary.AppendUvarint(dst, k.AccountID)
		dst = binary.AppendUvarint(dst, uint64(k.ColoID))
		dst = binary.AppendUvarint(dst, uint64(k.ErrorCode))
		dst = binary.AppendUvarint(dst, uint64(k.Source))
		for _, v := range [...]int64{g.Requests, g.Errors, g.Streamed, g.InputTokens, g.OutputTokens, g.QueueMax, g.QueueSum} {
			dst = binary.AppendVarint(dst, v)
		}
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(g.Neurons))
		for _, v := range g.Sums {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
		for d := range g.Bins {
			dst = g.Bins[d].appendSnapshot(dst)
		}
	}
	return appendStreams(dst, w.st, ids)
}

func (b *bins) appendSnapshot(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(b.zero))
	if b.dense {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, int64(b.offset))
		dst = binary.AppendUvarint(dst, uint64(len(b.counts)))
		for _, c := range b.counts {
			dst = binary.AppendUvarint(dst, uint64(c))
		}
		return dst
	}
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(b.counts)/2))
	prev := int64(0)
	for k := 0; k < len(b.counts); k += 2 {
		i := int64(int32(b.counts[k]))
		dst = binary.AppendVarint(dst, i-prev)
		dst = binary.AppendUvarint(dst, uint64(b.counts[k+1]))
		prev = i
	}
	return dst
}

// snapReader reads a snapshot and remembers the first error.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrSnapshot, what)
	}
	r.b = nil
}

func (r *snapReader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *snapReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length of items taking at least min bytes each, so a
// corrupt length cannot make the reader allocate more than the input.
func (r *snapReader) count(min int, what string) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail(what + " count exceeds the bytes left")
		return 0
	}
	return int(n)
}

func (r *snapReader) u32(what string) uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.fail(what + " out of range")
	}
	return uint32(v)
}

// ReadSnapshot decodes one window snapshot from the start of b and returns
// it with the bytes after it. Errors wrap ErrSnapshot.
func ReadSnapshot(b []byte) (*Window, []byte, error) { return readSnapshot(b, true) }

// ReadSnapshotV3 reads a snapshot of checkpoint version 3 or older, from
// before the stream tables.
func ReadSnapshotV3(b []byte) (*Window, []byte, error) { return readSnapshot(b, false) }

func readSnapshot(b []byte, withStreams bool) (*Window, []byte, error) {
	r := &snapReader{b: b}
	w := newWindow(int64(r.u64()))
	r.u64() // reserved
	strs := make([]string, r.count(1, "string"))
	for i := range strs {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail("string length exceeds the bytes left")
			break
		}
		strs[i] = w.intern(string(r.b[:n]))
		r.b = r.b[n:]
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(strs)) {
			r.fail("string index out of range")
			return ""
		}
		return strs[i]
	}
	for n := r.count(1, "model"); n > 0 && r.err == nil; n-- {
		w.models[str()] = struct{}{}
	}
	n := r.count(8, "group")
	w.groups = make([]Group, 0, n)
	w.keys = make([]Key, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		k := Key{ModelID: str(), Backend: str(), AccountID: r.uvarint(), ColoID: r.u32("colo"), ErrorCode: r.u32("error code")}
		src := r.uvarint()
		if src > math.MaxUint16 {
			r.fail("source out of range")
		}
		k.Source = uint16(src)
		var g Group
		for _, p := range [...]*int64{&g.Requests, &g.Errors, &g.Streamed, &g.InputTokens, &g.OutputTokens, &g.QueueMax, &g.QueueSum} {
			*p = r.varint()
		}
		g.Neurons = math.Float64frombits(r.u64())
		for d := range g.Sums {
			g.Sums[d] = math.Float64frombits(r.u64())
		}
		for d := range g.Bins {
			g.Bins[d].readSnapshot(r)
		}
		if r.err != nil {
			break
		}
		if _, dup := w.index[k]; dup {
			r.fail("duplicate key")
			break
		}
		w.index[k] = int32(len(w.groups))
		w.groups = append(w.groups, g)
		w.keys = append(w.keys, k)
	}
	if withStreams && r.err == nil {
		w.st = readStreams(r, str)
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return w, r.b, nil
}

func (b *bins) readSnapshot(r *snapReader) {
	b.zero = r.u32("zero count")
	if len(r.b) < 1 {
		r.fail("truncated bins")
		return
	}
	dense := r.b[0]
	r.b = r.b[1:]
	switch dense {
	case 1:
		off := r.varint()
		n := r.count(1, "bin")
		if off < math.MinInt32 || off+int64(n) > math.MaxInt32 || n > maxDenseBins {
			r.fail("dense bins out of range")
			return
		}
		b.dense, b.offset = true, int32(off)
		b.counts = make([]uint32, n)
		for i := range b.counts {
			b.counts[i] = r.u32("bin count")
		}
	case 0:
		n := r.count(2, "bin pair")
		if n == 0 {
			return
		}
		b.counts = make([]uint32, 0, 2*n)
		prev := int64(0)
		for j := 0; j < n && r.err == nil; j++ {
			i := prev + r.varint()
			if (j > 0 && i <= prev) || i < math.MinInt32 || i > math.MaxInt32 {
				r.fail("sparse bins not strictly increasing")
				return
			}
			b.counts = append(b.counts, uint32(int32(i)), r.u32("bin count"))
			prev = i
		}
	default:
		r.fail("bad bins kind")
	}
}

// Restore puts a window read back from a snapshot among the open windows.
// It fails when a window with the same start is already open.
func (a *Aggregator) Restore(w *Window) error {
	if _, ok := a.windows[w.Start]; ok {
		return fmt.Errorf("restore window %d: already open", w.Start)
	}
	if a.Start(w.Start) != w.Start {
		return fmt.Errorf("restore window %d: not aligned to the window width", w.Start)
	}
	a.windows[w.Start] = w
	a.groups += w.Len()
	return nil
}
