package emitter

import (
	"sync/atomic"

	"github.com/readout-dev/readout/wire"
)

// queue is the buffer between Emit callers and the writer: a fixed ring of
// event slots. Producers are serialized by Emitter.mu (which also assigns
// seqs, so slots fill in seq order); the writer is the only consumer and
// encodes straight from the slots. Compared with a channel this saves a
// lock and a copy of the event per Emit, which is most of Emit's cost.
type queue struct {
	slots []wire.Event
	_     [64]byte
	head  atomic.Uint64 // next slot to read; only the writer advances it
	_     [56]byte
	tail  atomic.Uint64 // next slot to fill; advanced under Emitter.mu
	_     [56]byte
}

func newQueue(n int) *queue { return &queue{slots: make([]wire.Event, n)} }

// len is the number of filled slots.
func (q *queue) len() int { return int(q.tail.Load() - q.head.Load()) }

// reserve returns the next free slot, or nil when the queue is full. The
// caller must hold Emitter.mu and call publish after filling the slot.
func (q *queue) reserve() *wire.Event {
	t := q.tail.Load()
	if t-q.head.Load() >= uint64(len(q.slots)) {
		return nil
	}
	return &q.slots[t%uint64(len(q.slots))]
}

// publish makes the slot from reserve visible to the writer.
func (q *queue) publish() { q.tail.Add(1) }

// at returns the i-th filled slot after head; writer only.
func (q *queue) at(head uint64, i int) *wire.Event {
	return &q.slots[(head+uint64(i))%uint64(len(q.slots))]
}
