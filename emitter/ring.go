package emitter

import "net"

// chunk is one coalesced write: encoded frames back to back, with the seq
// and offset of each. It stays in the replay ring until every frame in it
// is acknowledged.
type chunk struct {
	data []byte
	seqs []uint64
	offs []int
	head int // frames before head are acknowledged
}

func (c *chunk) add(seq uint64, off int) {
	c.seqs = append(c.seqs, seq)
	c.offs = append(c.offs, off)
}

func (c *chunk) frames() int { return len(c.seqs) - c.head }

// unacked returns the bytes of the frames not yet acknowledged.
func (c *chunk) unacked() []byte { return c.data[c.offs[c.head]:] }

// ring is the replay ring: chunks in seq order. It is owned by the writer
// goroutine and needs no lock. Chunks are recycled so a steady stream makes
// no garbage.
type ring struct {
	chunks []*chunk
	events int // unacknowledged frames across chunks
	free   []*chunk
}

// get returns an empty chunk, recycled when possible.
func (r *ring) get() *chunk {
	if n := len(r.free); n > 0 {
		c := r.free[n-1]
		r.free = r.free[:n-1]
		return c
	}
	return &chunk{data: make([]byte, 0, chunkBytes), seqs: make([]uint64, 0, 64), offs: make([]int, 0, 64)}
}

const (
	// chunkBytes is a new chunk's capacity: a typical write, so that
	// encoding rarely has to grow it.
	chunkBytes = 16 << 10
	// maxFreeChunks bounds the spare chunks kept for reuse. Enough for the
	// writes in flight between an emitter and a prompt forwarder, so a
	// steady stream makes no garbage; an outsized burst is not pinned.
	maxFreeChunks = 64
)

// put recycles c.
func (r *ring) put(c *chunk) {
	c.data, c.seqs, c.offs, c.head = c.data[:0], c.seqs[:0], c.offs[:0], 0
	if len(r.free) < maxFreeChunks && cap(c.data) <= 4*maxBatchBytes {
		r.free = append(r.free, c)
	}
}

// push appends a written chunk.
func (r *ring) push(c *chunk) {
	if c.frames() == 0 {
		r.put(c)
		return
	}
	r.chunks = append(r.chunks, c)
	r.events += c.frames()
}

// release forgets every frame with seq <= acked. Seqs grow along the ring,
// so it stops at the first newer frame.
func (r *ring) release(acked uint64) {
	n := 0
	for _, c := range r.chunks {
		for c.head < len(c.seqs) && c.seqs[c.head] <= acked {
			c.head++
			r.events--
		}
		if c.frames() > 0 {
			break
		}
		r.put(c)
		n++
	}
	if n > 0 {
		m := copy(r.chunks, r.chunks[n:])
		clear(r.chunks[m:])
		r.chunks = r.chunks[:m]
	}
}

// buffers returns the unacknowledged bytes, for one vectored write.
func (r *ring) buffers() net.Buffers {
	b := make(net.Buffers, 0, len(r.chunks))
	for _, c := range r.chunks {
		b = append(b, c.unacked())
	}
	return b
}

// span returns the first and last unacknowledged seqs; the ring must not
// be empty.
func (r *ring) span() (first, last uint64) {
	f, l := r.chunks[0], r.chunks[len(r.chunks)-1]
	return f.seqs[f.head], l.seqs[len(l.seqs)-1]
}
