package spool

// handoffLimit bounds the bytes of batches kept in memory for the shipping
// cursor. Past it (the collector is away or slower than the emitters and
// the cursor has fallen behind) new batches are read back from the segment
// as before. A few batches are enough for a cursor that keeps up, which is
// when the handoff pays; a bigger limit only holds more memory that is read
// much later (32 MiB of it was 8,000 page faults, a tenth of a CPU second
// per million events, on a virtual machine where faults are dear).
var handoffLimit = 8 << 20

// handed is a batch just appended, waiting for the cursor: a copy, or the
// block the caller gave (see AppendBlock).
//
// The cursor usually reaches a batch moments after it was written, and
// reading it back cost a pread, a checksum and an S2 decode of every byte:
// 10% of the forwarder's CPU in a demo profile (s2.Decode 6.5%, the rest
// syscalls). Taking the copy costs one memmove, into a pooled block with
// Headroom, so that the shipper sends it without another copy; a caller
// that assembled the batch in such a block and gives it (AppendBlock) saves
// even that.
type handed struct {
	seg  uint64
	off  int64 // the record's offset in its segment
	size int64 // its size on disk
	rec  Record
}

// handOff remembers a record just written at seg/off: it keeps block, the
// caller's memory events lie in (nil for none), or else a copy. It reports
// whether it kept block. Callers hold mu.
func (s *Spool) handOff(seg uint64, off, size int64, seq uint64, createdNs int64, count uint32, events []byte, block *[]byte) (kept bool) {
	if s.handBytes+len(events) > handoffLimit {
		return false
	}
	var ev []byte
	mem := block
	if inBlock(events, block) {
		ev, kept = events[:len(events):len(events)], true
	} else {
		mem, ev = ownedEvents(len(events))
		copy(ev, events)
	}
	s.hand = append(s.hand, handed{seg: seg, off: off, size: size,
		rec: Record{Seq: seq, CreatedNs: createdNs, EventCount: count, Events: ev, mem: mem}})
	s.handBytes += len(ev)
	return kept
}

// takeHanded returns the copy of the record at seg/off, if there is one,
// and forgets copies the cursor has passed. Callers hold mu.
func (s *Spool) takeHanded(seg uint64, off int64) (handed, bool) {
	i := 0
	for i < len(s.hand) && (s.hand[i].seg < seg || (s.hand[i].seg == seg && s.hand[i].off < off)) {
		s.handBytes -= len(s.hand[i].rec.Events)
		Recycle(&s.hand[i].rec) // passed: nobody else has it
		i++
	}
	var h handed
	ok := i < len(s.hand) && s.hand[i].seg == seg && s.hand[i].off == off
	if ok {
		h = s.hand[i]
		s.handBytes -= len(h.rec.Events)
		i++
	}
	if i > 0 {
		clear(s.hand[:i]) // let the shipper own the events alone
		s.hand = s.hand[i:]
		if len(s.hand) == 0 {
			s.hand = nil
		}
	}
	return h, ok
}
