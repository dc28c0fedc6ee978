package window

import (
	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/readout-dev/readout/sketch"
)

// bins is a group's running quantile sketch for one duration: the bucket
// counts of a DDSketch with the same index mapping as package sketch, kept
// as a short list of pairs while there are few, then as a dense array. It turns into a real DDSketch only when the row is
// written, in the encoding sketch.Decode reads.
//
// It exists because sketch.Sketch (DDSketch with paginated buffered stores)
// costs about 150 ns and a couple of hundred bytes per Add and per group,
// which kept the collector at 750,000 events/s and 2,100 bytes per key in
// BenchmarkDecodeAggregate and BenchmarkMemoryPerKey; an index computation
// and an array increment are all an event needs.
type bins struct {
	offset int32 // dense: bucket index of counts[0]
	zero   uint32
	dense  bool
	// Sparse (few distinct buckets, the usual case for a small group):
	// pairs of (bucket index as uint32, count). Dense: counts[i] is the
	// count of bucket offset+i.
	counts []uint32
}

// sparseCheck is the number of distinct buckets at which sparse bins first
// consider turning dense; they do when the dense array would take no more
// memory than the pairs (span <= 2 * pairs), else they check again at twice
// the size.
const sparseCheck = 16

var (
	binMapping   = mustLogMapping()
	minIndexable = binMapping.MinIndexableValue()
)

func mustLogMapping() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(sketch.RelativeAccuracy)
	if err != nil {
		panic(err) // constant input; cannot fail
	}
	return m
}

// add records v, in milliseconds. Values at or below the smallest
// indexable value (0 included) count in the zero bucket, as in DDSketch.
func (b *bins) add(v float64) {
	if !(v > minIndexable) {
		b.zero++
		return
	}
	i := binMapping.Index(v)
	if b.dense {
		j := i - int(b.offset)
		if j < 0 || j >= len(b.counts) {
			b.grow(i)
			j = i - int(b.offset)
		}
		b.counts[j]++
		return
	}
	c := b.counts
	// Binary search over the sorted pairs.
	lo, hi := 0, len(c)/2
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int32(c[2*m]) < int32(i) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if 2*lo < len(c) && int32(c[2*lo]) == int32(i) {
		c[2*lo+1]++
		return
	}
	n := len(c) / 2
	if n >= sparseCheck && n&(n-1) == 0 && b.denseSpan(i) <= 2*(n+1) {
		b.toDense()
		b.add(v)
		return
	}
	c = append(c, 0, 0)
	copy(c[2*lo+2:], c[2*lo:])
	c[2*lo], c[2*lo+1] = uint32(int32(i)), 1
	b.counts = c
}

// denseSpan is how many buckets a dense array holding the pairs and bucket
// i would need.
func (b *bins) denseSpan(i int) int {
	lo, hi := min(int32(b.counts[0]), int32(i)), max(int32(b.counts[len(b.counts)-2]), int32(i))
	return int(hi-lo) + 1
}

// toDense turns sparse pairs into a dense array.
func (b *bins) toDense() {
	pairs := b.counts
	lo, hi := int32(pairs[0]), int32(pairs[0])
	for k := 0; k < len(pairs); k += 2 {
		lo, hi = min(lo, int32(pairs[k])), max(hi, int32(pairs[k]))
	}
	b.counts = make([]uint32, hi-lo+1)
	b.offset, b.dense = lo, true
	for k := 0; k < len(pairs); k += 2 {
		b.counts[int32(pairs[k])-lo] += pairs[k+1]
	}
}

// grow widens a dense array to cover bucket i, with slack on the growing
// side so that a spreading distribution does not reallocate every time.
func (b *bins) grow(i int) {
	lo, hi := int(b.offset), int(b.offset)+len(b.counts) // [lo, hi)
	if i >= hi {
		n := i + 1 - lo
		if n <= cap(b.counts) {
			b.counts = b.counts[:n]
			return
		}
		grown := make([]uint32, n, n+n/4+2)
		copy(grown, b.counts)
		b.counts = grown
		return
	}
	newLo := i - (hi-i)/4
	grown := make([]uint32, hi-newLo)
	copy(grown[lo-newLo:], b.counts)
	b.counts, b.offset = grown, int32(newLo)
}

// each calls fn with every non-empty bucket.
func (b *bins) each(fn func(index int, count uint32)) {
	if b.dense {
		for j, c := range b.counts {
			if c > 0 {
				fn(int(b.offset)+j, c)
			}
		}
		return
	}
	for k := 0; k < len(b.counts); k += 2 {
		fn(int(int32(b.counts[k])), b.counts[k+1])
	}
}

// count is the number of values recorded.
func (b *bins) count() uint64 {
	n := uint64(b.zero)
	b.each(func(_ int, c uint32) { n += uint64(c) })
	return n
}

// ddsketch builds the DDSketch these bins stand for.
func (b *bins) ddsketch() *ddsketch.DDSketch {
	pos := store.NewBufferedPaginatedStore()
	dd := ddsketch.NewDDSketch(binMapping, pos, store.NewDenseStore())
	// A buffered store takes indexes in any order at the cost of an append.
	b.each(func(i int, c uint32) { pos.AddWithCount(i, float64(c)) })
	if b.zero > 0 {
		_ = dd.AddWithCount(0, float64(b.zero)) // the zero bucket: cannot fail
	}
	return dd
}
