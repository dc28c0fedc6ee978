package emitter

import "github.com/google/uuid"

// reason is why an event was dropped; its String is the metric label.
type reason int

const (
	reasonBufferFull   reason = iota // the writer fell behind
	reasonDisconnected               // no forwarder connection for a while
	reasonRingFull                   // the forwarder stopped acknowledging
	reasonTooLarge                   // the event exceeds the message size limit
	reasonInvalid                    // nil, or a string that is not valid UTF-8
	reasonClosed                     // offered after Close began
	reasonCloseTimeout               // still buffered when Close's ctx ended
	numReasons
	reasonNone reason = -1 // offer: the event is acceptable
)

func (r reason) String() string {
	switch r {
	case reasonBufferFull:
		return "buffer_full"
	case reasonDisconnected:
		return "disconnected"
	case reasonRingFull:
		return "ring_full"
	case reasonTooLarge:
		return "too_large"
	case reasonInvalid:
		return "invalid"
	case reasonClosed:
		return "closed"
	case reasonCloseTimeout:
		return "close_timeout"
	}
	return "unknown"
}

// writerState is what the writer is doing, which names the drop reason
// when the buffer is full.
type writerState int32

const (
	stateConnected writerState = iota
	stateDisconnected
	stateRingFull
)

// Stats is a snapshot of an emitter's counters. Sent + Dropped + Queued ==
// Emitted holds exactly in every snapshot.
type Stats struct {
	EmitterID uuid.UUID `json:"emitter_id"`
	// Emitted counts every event offered, dropped ones included.
	Emitted uint64 `json:"emitted"`
	// Sent counts events the writer took from the buffer and wrote to the
	// socket, or tried to: a failed write stays in the replay ring and is
	// re-sent after the reconnect, so it is not a drop (replays are not
	// counted again). Those still unacknowledged when Close ended are
	// Unacked.
	Sent uint64 `json:"sent"`
	// Dropped counts events that were never written, for any reason.
	Dropped uint64 `json:"dropped"`
	// Queued counts events buffered or being encoded.
	Queued uint64 `json:"queued"`
	// DroppedByReason splits Dropped.
	DroppedByReason DropCounts `json:"dropped_by_reason"`
	// DroppedInBand is the drop count carried on the wire: drops of events
	// that got a seq (all but reason "closed").
	DroppedInBand uint64 `json:"dropped_in_band"`
	// LastSeq is the last seq assigned; the closing message carries it.
	LastSeq uint64 `json:"last_seq"`
	// Replayed counts events re-sent after a reconnect.
	Replayed uint64 `json:"replayed"`
	// AckedSeq is the highest seq the forwarder said is durable.
	AckedSeq uint64 `json:"acked_seq"`
	// RingOccupancy is the number of written, unacknowledged events kept.
	RingOccupancy uint64 `json:"ring_occupancy"`
	// Unacked is set when Close ends: the events counted in Sent that the
	// forwarder never acknowledged (the replay ring was abandoned because
	// Close's ctx ended). They may or may not have reached the forwarder;
	// the audit settles which. Zero while the emitter runs.
	Unacked       uint64 `json:"unacked"`
	ConnectErrors uint64 `json:"connect_errors"`
	WriteErrors   uint64 `json:"write_errors"`
	// ClosedAcked reports that the forwarder acknowledged the closing
	// message.
	ClosedAcked bool `json:"closed_acked"`
}

// DropCounts splits drops by reason; the JSON keys are the metric labels.
type DropCounts struct {
	BufferFull   uint64 `json:"buffer_full"`
	Disconnected uint64 `json:"disconnected"`
	RingFull     uint64 `json:"ring_full"`
	TooLarge     uint64 `json:"too_large"`
	Invalid      uint64 `json:"invalid"`
	Closed       uint64 `json:"closed"`
	CloseTimeout uint64 `json:"close_timeout"`
}
