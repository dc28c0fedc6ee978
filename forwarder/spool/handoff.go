package spool

import "sync"

// handoffLimit bounds the bytes of batches kept in memory for the shipping
// cursor. Past it (the collector is away or slower than the emitters and
// the cursor has fallen behind) new batches are read back from the segment
// as before. A few batches are enough for a cursor that keeps up, which is
// when the handoff pays; a bigger limit only holds more memory that is read
// much later (32 MiB of it was 8,000 page faults, a tenth of a CPU second
// per million events, on a virtual machine where faults are dear).
var handoffLimit = 8 << 20

// handoff is the Spool's in-memory part, in front of its file queue:
// copies of the records just appended, in append order, for the cursor.
// It holds nothing the files do not: a record is put here only once it is
// written, and the cursor takes it only once it is durable; whatever the
// handoff lacks (over its limit, after a restart) is read back from the
// file instead.
//
// The cursor usually reaches a batch moments after it was written, and
// reading it back cost a pread, a checksum and an S2 decode of every byte:
// 10% of the forwarder's CPU in a demo profile (s2.Decode 6.5%, the rest
// syscalls). Taking the copy costs one memmove, into a pooled block with
// Headroom, so that the shipper sends it without another copy; a caller
// that assembled the batch in such a block and gives it (AppendBlock) saves
// even that.
//
// It is safe for concurrent use: the writer puts, the cursor takes.
type handoff struct {
	mu    sync.Mutex
	recs  []handed // in append order
	bytes int      // of recs' events
}

// handed is a batch just appended, waiting for the cursor: a copy, or the
// block the caller gave (see AppendBlock).
type handed struct {
	at   position // where the record is in the files
	size int64    // its size on disk
	rec  Record
}

// put keeps rec, whose events are events, just written at at in size bytes
// on disk: it keeps block, the caller's memory events lie in (nil for
// none), or else a copy. It reports whether it kept block. Records must be
// put in append order.
func (h *handoff) put(at position, size int64, rec Record, events []byte, block *[]byte) (kept bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bytes+len(events) > handoffLimit {
		return false
	}
	mem := block
	if inBlock(events, block) {
		rec.Events, kept = events[:len(events):len(events)], true
	} else {
		mem, rec.Events = ownedEvents(len(events))
		copy(rec.Events, events)
	}
	rec.mem = mem
	h.recs = append(h.recs, handed{at: at, size: size, rec: rec})
	h.bytes += len(events)
	return kept
}

// take returns the record at at, if the handoff holds it, and forgets the
// records before it, which the cursor has passed.
func (h *handoff) take(at position) (handed, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := 0
	for i < len(h.recs) && h.recs[i].at.before(at) {
		h.bytes -= len(h.recs[i].rec.Events)
		Recycle(&h.recs[i].rec) // passed: nobody else has it
		i++
	}
	var got handed
	ok := i < len(h.recs) && h.recs[i].at == at
	if ok {
		got = h.recs[i]
		h.bytes -= len(got.rec.Events)
		i++
	}
	if i > 0 {
		clear(h.recs[:i]) // let the shipper own the events alone
		h.recs = h.recs[i:]
		if len(h.recs) == 0 {
			h.recs = nil
		}
	}
	return got, ok
}

// clear forgets every record (at Close).
func (h *handoff) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs, h.bytes = nil, 0
}
