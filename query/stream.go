package query

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// The stream tables (instance_state, predictions, downloads, and setup_runs
// grouped) merge alike: rows in the time range that meet --where fold into
// groups keyed by bucket and by their grouped dimensions, all of them text.
// Each table says, in a streamTable, what it reads and how a group adds up.

// maxDims bounds the dimensions of a stream table.
const maxDims = 4

// dimValues holds a row's dimension values in the table's order.
type dimValues [maxDims]string

// streamKey identifies a group: its bucket start (Unix ms, 0 without
// buckets) and the values of its grouped dimensions (others blank).
type streamKey struct {
	bucket int64
	dims   dimValues
}

// streamTable is how the rows of one stream table merge: T is the part of
// its row a query reads, G the sums of one group (its zero value is an
// empty group).
type streamTable[T, G any] struct {
	window func(r *T) time.Time // the row's window start
	dims   func(r *T) dimValues // the row's dimension values
	add    func(g *G, r *T) error
	merge  func(g, o *G) error
}

// Group is what identifies a row of a stream table's answer.
type Group struct {
	Time time.Time // bucket start, UTC; zero when not bucketed
	Key  []string  // the values of Result.GroupBy, in its order
}

// streamGroup is a merged group and its place in the answer.
type streamGroup[G any] struct {
	Group
	sums *G
}

// streamMerger folds rows into groups; only the groups are held.
type streamMerger[T, G any] struct {
	t        *streamTable[T, G]
	from, to time.Time
	bucket   time.Duration
	grouped  [maxDims]bool
	where    []cond
	groups   map[streamKey]*G
	rows     int64 // rows in range that met where
}

func (m *streamMerger[T, G]) add(path string, rows []T) error {
	for i := range rows {
		r := &rows[i]
		ws := m.t.window(r)
		if !inRange(ws, m.from, m.to) {
			continue
		}
		d := m.t.dims(r)
		if !matches(&d, m.where) {
			continue
		}
		m.rows++
		var k streamKey
		for j, g := range m.grouped {
			if g {
				k.dims[j] = d[j]
			}
		}
		if m.bucket > 0 {
			k.bucket = ws.UTC().Truncate(m.bucket).UnixMilli()
		}
		g := m.groups[k]
		if g == nil {
			g = new(G)
			m.groups[k] = g
		}
		if err := m.t.add(g, r); err != nil {
			return &CorruptError{Path: path, Err: err}
		}
	}
	return nil
}

// matches reports whether dimension values meet every condition.
func matches(d *dimValues, where []cond) bool {
	for i := range where {
		if d[where[i].index] != where[i].text {
			return false
		}
	}
	return true
}

// mergeStream reads the files of r into groups and returns them sorted by
// time, then by the group-by dimensions in the order given. Without
// grouping and buckets there is always exactly one group, empty when no
// row is in range.
func mergeStream[T, G any](t *streamTable[T, G], r *request) (groups []streamGroup[G], rows int64, skipped int, err error) {
	o, dims := r.Options, r.table.dims
	var grouped [maxDims]bool
	for _, d := range o.GroupBy {
		grouped[slices.Index(dims, d)] = true
	}
	mergers, skipped, err := readFiles(r.files, o.Workers, rowGroupFilter(r.where), func() *streamMerger[T, G] {
		return &streamMerger[T, G]{t: t, from: o.From, to: o.To, bucket: o.Bucket, grouped: grouped, where: r.where, groups: make(map[streamKey]*G)}
	})
	if err != nil {
		return nil, 0, 0, err
	}
	all := mergers[0]
	for _, m := range mergers[1:] {
		all.rows += m.rows
		for k, og := range m.groups {
			if g := all.groups[k]; g != nil {
				if err := t.merge(g, og); err != nil {
					return nil, 0, 0, err
				}
			} else {
				all.groups[k] = og
			}
		}
	}
	if len(all.groups) == 0 && len(o.GroupBy) == 0 && o.Bucket == 0 {
		all.groups[streamKey{}] = new(G)
	}
	keys := make([]streamKey, 0, len(all.groups))
	for k := range all.groups {
		keys = append(keys, k)
	}
	order := make([]int, len(o.GroupBy)) // positions of the group-by dims in dims
	for i, d := range o.GroupBy {
		order[i] = slices.Index(dims, d)
	}
	slices.SortFunc(keys, func(a, b streamKey) int {
		if a.bucket != b.bucket {
			return cmp.Compare(a.bucket, b.bucket)
		}
		for _, j := range order {
			if c := strings.Compare(a.dims[j], b.dims[j]); c != 0 {
				return c
			}
		}
		return 0
	})
	groups = make([]streamGroup[G], len(keys))
	for i, k := range keys {
		g := &groups[i]
		g.sums = all.groups[k]
		if o.Bucket > 0 {
			g.Time = time.UnixMilli(k.bucket).UTC()
		}
		g.Key = make([]string, len(order))
		for n, j := range order {
			g.Key[n] = k.dims[j]
		}
	}
	return groups, all.rows, skipped, nil
}

// wideSum adds int64 values in 128 bits. Nanosecond sums overflow int64 at
// 292 years: a year of a few hundred instances' state times.
type wideSum struct {
	hi int64
	lo uint64
}

func (s *wideSum) add(v int64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, uint64(v), 0)
	s.hi += v>>63 + int64(carry) // v>>63 sign-extends v into the high word
}

func (s *wideSum) addSum(o wideSum) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, o.lo, 0)
	s.hi += o.hi + int64(carry)
}

// float is the sum as a float64, exact below 2^53 in magnitude.
func (s wideSum) float() float64 {
	if s.hi < 0 { // the magnitude, in two's complement
		hi, lo := uint64(^s.hi), -s.lo
		if s.lo == 0 {
			hi++
		}
		return -(float64(hi)*0x1p64 + float64(lo))
	}
	return float64(s.hi)*0x1p64 + float64(s.lo)
}

// ratio is a / b, or 0 when b is 0 (as error_rate and the means of the
// inference table are).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
