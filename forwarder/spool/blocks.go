package spool

import "sync"

// Headroom is how many free bytes every record Next returns has in front of
// its Events (and Tailroom behind them), so that the shipper can write a
// message header and padding around the events and send them without
// copying them; see Record.Body.
const (
	Headroom = 128
	Tailroom = 8
)

// Record memory comes from a free list: a fresh megabyte per batch had to
// be zeroed and faulted in page by page, which cost more than using it (in a
// profile the handoff's copy into new memory was a tenth of the forwarder's
// CPU). A sync.Pool is emptied by every other garbage collection and the
// runtime then hands the pages back to the kernel, so the list is kept by
// hand, up to keepBytes (arena memory, see arena_linux.go, is always kept).
// Blocks go back with Recycle.
var blocks struct {
	mu    sync.Mutex
	free  []*[]byte
	bytes int
}

const (
	// keepBytes bounds the free blocks kept for reuse: the handoff's limit
	// and the batches being shipped, with room to spare.
	keepBytes = 96 << 20
	// blockRound is what block capacities are rounded up to, so that
	// batches of slightly different sizes share blocks.
	blockRound = 256 << 10
)

// getBlock returns a block of n bytes whose contents are undefined.
func getBlock(n int) *[]byte {
	blocks.mu.Lock()
	for i := len(blocks.free) - 1; i >= 0; i-- {
		p := blocks.free[i]
		if cap(*p) >= n {
			last := len(blocks.free) - 1
			blocks.free[i] = blocks.free[last]
			blocks.free[last] = nil
			blocks.free = blocks.free[:last]
			if !inArena(*p) {
				blocks.bytes -= cap(*p)
			}
			blocks.mu.Unlock()
			*p = (*p)[:n]
			return p
		}
	}
	c := (n + blockRound - 1) / blockRound * blockRound
	b := arenaAlloc(c)
	blocks.mu.Unlock()
	if b == nil {
		b = make([]byte, c)
	}
	b = b[:n]
	return &b
}

// putBlock keeps p for reuse, unless enough is kept already.
func putBlock(p *[]byte) {
	blocks.mu.Lock()
	defer blocks.mu.Unlock()
	if inArena(*p) {
		// Arena memory has nowhere else to go.
		blocks.free = append(blocks.free, p)
		return
	}
	if blocks.bytes+cap(*p) > keepBytes {
		return
	}
	blocks.free = append(blocks.free, p)
	blocks.bytes += cap(*p)
}

// ownedEvents returns a record's memory for n event bytes with Headroom in
// front and Tailroom behind: the block and the events slice within it.
func ownedEvents(n int) (*[]byte, []byte) {
	p := getBlock(Headroom + n + Tailroom)
	return p, (*p)[Headroom : Headroom+n : Headroom+n]
}

// Recycle gives the memory of a record's events back for later records.
// Call it once the record's Events (and any Body built from it) are no
// longer used, after Release; it is optional (unrecycled memory is garbage
// collected) and does nothing for records whose memory is not pooled. A
// record must be recycled at most once.
func Recycle(rec *Record) {
	p := rec.mem
	rec.mem, rec.Events = nil, nil
	if p != nil {
		putBlock(p)
	}
}

// Body returns head+len(Events)+tail bytes whose middle is Events. For a
// record Next returned, with head <= Headroom and tail <= Tailroom, it is
// the record's own memory around Events and nothing is copied; otherwise it
// is a copy. The bytes around Events are undefined: the caller writes them.
// Body is valid until Recycle.
func (r *Record) Body(head, tail int) []byte {
	n := len(r.Events)
	if r.mem != nil && head <= Headroom && tail <= Tailroom {
		return (*r.mem)[Headroom-head : Headroom+n+tail]
	}
	b := make([]byte, head+n+tail)
	copy(b[head:], r.Events)
	return b
}

// NewBuffer returns an empty buffer for up to n event bytes in a pooled
// block, Headroom bytes in, for a caller that assembles a batch to append:
// appending to buf within its capacity keeps it in the block, so that the
// block can be given to the handoff (see AppendBlock). FreeBuffer gives it
// back.
func NewBuffer(n int) (buf []byte, mem *[]byte) {
	mem, ev := ownedEvents(n)
	return ev[:0:n], mem
}

// FreeBuffer gives back a block from NewBuffer that the handoff did not
// keep.
func FreeBuffer(mem *[]byte) {
	if mem != nil {
		putBlock(mem)
	}
}

// inBlock reports whether events lie in mem at Headroom with Tailroom
// behind them, as a buffer from NewBuffer appended to in place does: only
// then can the handoff keep mem as the record's memory.
func inBlock(events []byte, mem *[]byte) bool {
	return mem != nil && len(events) > 0 && len(*mem) >= Headroom+len(events)+Tailroom &&
		&events[0] == &(*mem)[Headroom]
}
