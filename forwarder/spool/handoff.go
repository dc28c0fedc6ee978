package spool

// handoffLimit bounds the bytes of batches kept in memory for the shipping
// cursor. Past it (the collector is away and the cursor has stalled) new
// batches are read back from the segment as before.
var handoffLimit = 32 << 20

// handed is a copy of a batch just appended, waiting for the cursor.
//
// The cursor usually reaches a batch moments after it was written, and
// reading it back cost a pread, a checksum and an S2 decode of every byte:
// 10% of the forwarder's CPU in a demo profile (s2.Decode 6.5%, the rest
// syscalls). Taking the copy costs one memmove.
type handed struct {
	seg  uint64
	off  int64 // the record's offset in its segment
	size int64 // its size on disk
	rec  Record
}

// handOff remembers a copy of a record just written at seg/off. Callers
// hold mu.
func (s *Spool) handOff(seg uint64, off, size int64, seq uint64, createdNs int64, count uint32, events []byte) {
	if s.handBytes+len(events) > handoffLimit {
		return
	}
	ev := make([]byte, len(events))
	copy(ev, events)
	s.hand = append(s.hand, handed{seg: seg, off: off, size: size,
		rec: Record{Seq: seq, CreatedNs: createdNs, EventCount: count, Events: ev}})
	s.handBytes += len(ev)
}

// takeHanded returns the copy of the record at seg/off, if there is one,
// and forgets copies the cursor has passed. Callers hold mu.
func (s *Spool) takeHanded(seg uint64, off int64) (handed, bool) {
	i := 0
	for i < len(s.hand) && (s.hand[i].seg < seg || (s.hand[i].seg == seg && s.hand[i].off < off)) {
		s.handBytes -= len(s.hand[i].rec.Events)
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
