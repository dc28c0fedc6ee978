// Package ledger keeps the collector's per-emitter state: which seqs were
// counted (for deduplication, design promise 4) and the delivery record the
// audit table is made of (promise 3).
package ledger

import "sort"

// MaxRanges bounds the ranges kept per emitter, so a sender that skips every
// other seq cannot grow memory without bound. Past it the two oldest ranges
// are joined, as if the seqs between them had been seen: those gaps are old
// drops whose seqs never arrive, and if one ever did it would be taken for a
// duplicate.
const MaxRanges = 4096

// Range is an inclusive run of seqs.
type Range struct{ Lo, Hi uint64 }

// Ranges is a sorted set of disjoint, non-adjacent seq runs.
type Ranges []Range

// Contains reports whether seq is in the set.
func (rs Ranges) Contains(seq uint64) bool {
	n := len(rs)
	if n > 0 && seq > rs[n-1].Hi {
		return false // the common case: a new seq past everything seen
	}
	i := sort.Search(n, func(i int) bool { return rs[i].Hi >= seq })
	return i < n && rs[i].Lo <= seq
}

// Add inserts seq, which must not be in the set, and returns the new set.
func (rs Ranges) Add(seq uint64) Ranges {
	n := len(rs)
	if n > 0 && seq == rs[n-1].Hi+1 {
		rs[n-1].Hi = seq
		return rs
	}
	i := sort.Search(n, func(i int) bool { return rs[i].Hi >= seq })
	joinLeft := i > 0 && rs[i-1].Hi+1 == seq
	joinRight := i < n && seq+1 == rs[i].Lo
	switch {
	case joinLeft && joinRight:
		rs[i-1].Hi = rs[i].Hi
		rs = append(rs[:i], rs[i+1:]...)
	case joinLeft:
		rs[i-1].Hi = seq
	case joinRight:
		rs[i].Lo = seq
	default:
		rs = append(rs, Range{})
		copy(rs[i+1:], rs[i:])
		rs[i] = Range{seq, seq}
		if len(rs) > MaxRanges {
			rs[1].Lo = rs[0].Lo
			rs = append(rs[:0], rs[1:]...)
		}
	}
	return rs
}
