package wire

import (
	"fmt"

	"capnproto.org/go/capnp/v3"

	"github.com/readout-dev/readout/schema"
)

// Decode limits applied to every message read from a peer. They bound the
// work a hostile message can cause whatever its framing claims.
const (
	// traverseLimit bounds the bytes a reader may visit in one message.
	traverseLimit = 4 * MaxMessageSize
	// depthLimit bounds pointer nesting; our schema nests three deep.
	depthLimit = 8
)

// InvalidError is every semantic validation failure the decoders return,
// with a Reason so that callers can count malformed input by kind.
type InvalidError struct {
	Reason string // metric-friendly: "union", "emitter_id", "id", "decode"
	Err    error
}

func (e *InvalidError) Error() string { return "wire: invalid " + e.Reason + ": " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

func invalid(reason string, format string, args ...any) error {
	return &InvalidError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func unmarshal(frame []byte) (*capnp.Message, error) {
	msg, err := capnp.Unmarshal(frame)
	if err != nil {
		return nil, &InvalidError{Reason: "decode", Err: err}
	}
	msg.TraverseLimit = traverseLimit
	msg.DepthLimit = depthLimit
	msg.ResetReadLimit(traverseLimit)
	return msg, nil
}

// EncodeEventCapnp encodes ev as one stream-framed message using the
// generated go-capnp code. It is the reference the fast encoder is tested
// against, and is fine for anything that is not on a hot path.
func EncodeEventCapnp(ev *Event) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		return nil, err
	}
	e, err := schema.NewRootEvent(seg)
	if err != nil {
		return nil, err
	}
	if ev.ID != ([16]byte{}) {
		if err := e.SetId(ev.ID[:]); err != nil {
			return nil, err
		}
	}
	e.SetTimestampNs(ev.TimestampNs)
	if !ev.Anonymous() {
		if err := e.SetEmitterId(ev.EmitterID[:]); err != nil {
			return nil, err
		}
	}
	e.SetSeq(ev.Seq)
	e.SetDroppedTotal(ev.DroppedTotal)
	if err := setMemberCapnp(e, ev); err != nil {
		return nil, err
	}
	return msg.Marshal()
}

// DecodeEventCapnp decodes and validates one stream-framed Event message with
// the generated go-capnp code. It checks what the pipeline relies on: a known
// union member, and id and emitterId either absent or 16 bytes.
func DecodeEventCapnp(frame []byte) (Event, error) {
	var ev Event
	msg, err := unmarshal(frame)
	if err != nil {
		return ev, err
	}
	e, err := schema.ReadRootEvent(msg)
	if err != nil {
		return ev, &InvalidError{Reason: "decode", Err: err}
	}
	id, err := e.Id()
	if err != nil {
		return ev, &InvalidError{Reason: "decode", Err: err}
	}
	if err := copyID(&ev.ID, id, "id"); err != nil {
		return ev, err
	}
	eid, err := e.EmitterId()
	if err != nil {
		return ev, &InvalidError{Reason: "decode", Err: err}
	}
	if err := copyID(&ev.EmitterID, eid, "emitter_id"); err != nil {
		return ev, err
	}
	ev.TimestampNs = e.TimestampNs()
	ev.Seq = e.Seq()
	ev.DroppedTotal = e.DroppedTotal()
	if err := readMemberCapnp(e, &ev); err != nil {
		return ev, err
	}
	return ev, checkValues(&ev)
}

func copyID(dst *[16]byte, b []byte, reason string) error {
	switch len(b) {
	case 0:
		return nil
	case 16:
		copy(dst[:], b)
		return nil
	}
	return invalid(reason, "%d bytes, want 16 or none", len(b))
}

// EncodeAck encodes an acknowledgement as one stream-framed message.
func EncodeAck(a Ack) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		return nil, err
	}
	m, err := schema.NewRootAck(seg)
	if err != nil {
		return nil, err
	}
	m.SetDurableSeq(a.DurableSeq)
	m.SetClosed(a.Closed)
	return msg.Marshal()
}

// DecodeAck decodes one stream-framed Ack message.
func DecodeAck(frame []byte) (Ack, error) {
	msg, err := unmarshal(frame)
	if err != nil {
		return Ack{}, err
	}
	m, err := schema.ReadRootAck(msg)
	if err != nil {
		return Ack{}, &InvalidError{Reason: "decode", Err: err}
	}
	return Ack{DurableSeq: m.DurableSeq(), Closed: m.Closed()}, nil
}

// EncodeBatch encodes a batch as one stream-framed message, the body of a
// POST /v1/batches request.
func EncodeBatch(b *Batch) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(make([]byte, 0, len(b.Events)+128)))
	if err != nil {
		return nil, err
	}
	m, err := schema.NewRootBatch(seg)
	if err != nil {
		return nil, err
	}
	if err := m.SetForwarderId(b.ForwarderID[:]); err != nil {
		return nil, err
	}
	m.SetBatchSeq(b.BatchSeq)
	m.SetCreatedNs(b.CreatedNs)
	m.SetEventCount(b.EventCount)
	if err := m.SetEvents(b.Events); err != nil {
		return nil, err
	}
	return msg.Marshal()
}

// DecodeBatch decodes one stream-framed Batch. Events aliases body. It checks
// the forwarder id's length and that Events holds exactly EventCount whole
// frames of at most maxEventSize bytes each; the events themselves are
// decoded by the caller.
func DecodeBatch(body []byte, maxEventSize int) (Batch, error) {
	var b Batch
	if _, err := FrameSize(body, len(body)); err != nil {
		return b, &InvalidError{Reason: "decode", Err: err}
	}
	msg, err := capnp.Unmarshal(body)
	if err != nil {
		return b, &InvalidError{Reason: "decode", Err: err}
	}
	// A batch legitimately visits its whole body once.
	msg.TraverseLimit = uint64(len(body)) + 1024
	msg.DepthLimit = depthLimit
	msg.ResetReadLimit(msg.TraverseLimit)
	m, err := schema.ReadRootBatch(msg)
	if err != nil {
		return b, &InvalidError{Reason: "decode", Err: err}
	}
	fid, err := m.ForwarderId()
	if err != nil {
		return b, &InvalidError{Reason: "decode", Err: err}
	}
	if len(fid) != 16 {
		return b, invalid("forwarder_id", "%d bytes, want 16", len(fid))
	}
	copy(b.ForwarderID[:], fid)
	b.BatchSeq = m.BatchSeq()
	b.CreatedNs = m.CreatedNs()
	b.EventCount = m.EventCount()
	if b.Events, err = m.Events(); err != nil {
		return b, &InvalidError{Reason: "decode", Err: err}
	}
	var n uint32
	if err := Frames(b.Events, maxEventSize, func([]byte) error { n++; return nil }); err != nil {
		return b, &InvalidError{Reason: "events", Err: err}
	}
	if n != b.EventCount {
		return b, invalid("event_count", "batch says %d events, holds %d", b.EventCount, n)
	}
	return b, nil
}
