// Package ledger keeps the collector's per-emitter state: which seqs were
// counted (for deduplication, design promise 4) and the delivery record the
// audit table is made of (promise 3).
package ledger

import "sort"

// MaxRanges bounds the ranges kept per emitter, so a sender that skips every
// other seq cannot grow memory without bound. What happens at the cap is
// Emitter.makeRoom's business: Ranges itself never forgets a seq.
const MaxRanges = 4096

// Range is an inclusive run of seqs.
type Range struct{ Lo, Hi uint64 }

// Ranges is a sorted set of disjoint, non-adjacent seq runs.
//
// The set is a plain slice: the emitter's own traffic arrives almost in
// order, so a new seq extends the last range (O(1)) or lands a few ranges
// from the end (a short copy). Forgetting or joining the oldest ranges, all
// the cap ever does, reslices the front instead of moving the rest down:
// the copy that used to cost 64 KiB per new gap at the cap is gone, and
// append's growth pays for the memory the front releases.
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

// extends reports whether adding seq, which is not in the set, would only
// grow or join existing ranges rather than start a new one.
func (rs Ranges) extends(seq uint64) bool {
	n := len(rs)
	if n > 0 && seq == rs[n-1].Hi+1 {
		return true
	}
	i := sort.Search(n, func(i int) bool { return rs[i].Hi >= seq })
	return (i > 0 && rs[i-1].Hi+1 == seq) || (i < n && seq+1 == rs[i].Lo)
}

// Add inserts seq, which must not be in the set, and returns the new set.
// It never drops a range: callers bound the length (see Emitter.add).
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
	}
	return rs
}

// countFrom is the number of seqs in the set at or above from.
func (rs Ranges) countFrom(from uint64) uint64 {
	var n uint64
	for i := len(rs) - 1; i >= 0 && rs[i].Hi >= from; i-- {
		n += rs[i].Hi - max(rs[i].Lo, from) + 1
	}
	return n
}
