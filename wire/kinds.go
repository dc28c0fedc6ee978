package wire

import (
	"errors"
	"fmt"

	"github.com/readout-dev/readout/schema"
)

// The switches that route each codec to the kind's own file. A new kind
// adds one case to each (see Kind).

// Errors of Event.Check.
var (
	// ErrInvalidText: a Text field is not valid UTF-8.
	ErrInvalidText = errors.New("wire: a text field is not valid UTF-8")
	// ErrEventTooLarge: the event's encoding would exceed the limit.
	ErrEventTooLarge = errors.New("wire: event larger than the message size limit")
	// ErrUnknownKind: Kind names no member this package can encode.
	ErrUnknownKind = errors.New("wire: unknown event kind")
)

// stampedEnvelopeSize is the size of a single-segment message before its
// union member: the segment table, the root pointer, the Event struct and
// 16-byte id and emitter id.
const stampedEnvelopeSize = frameHeader + 8*(1+eventDataWords+eventPtrWords+2+2)

// Check reports whether a forwarder would accept ev once an emitter has
// stamped it with its id and emitter id: ErrInvalidText when a Text field
// is not valid UTF-8 (DecodeEvent refuses such Text, since the collector
// stores it as Parquet strings), ErrEventTooLarge when the encoding would
// exceed limit bytes, ErrUnknownKind for a kind with no codec, and nil
// otherwise. It does not allocate. Only texts can make an event large, so
// the exact size is computed only when they could reach the limit.
func (ev *Event) Check(limit int) error {
	var n, fixed int
	switch ev.Kind {
	case KindInference:
		if !ev.Inference.validText() {
			return ErrInvalidText
		}
		n, fixed = ev.Inference.textBytes(), inferenceMaxFixed
	case KindLifecycle:
		if !ev.Lifecycle.validText() {
			return ErrInvalidText
		}
		n, fixed = ev.Lifecycle.textBytes(), lifecycleMaxFixed
	case KindClosed:
	default:
		return ErrUnknownKind
	}
	if n <= limit-stampedEnvelopeSize-fixed {
		return nil
	}
	if stampedEnvelopeSize+8*memberWords(ev) > limit {
		return ErrEventTooLarge
	}
	return nil
}

// memberWords is the size of ev's union member and what it points to.
func memberWords(ev *Event) int {
	switch ev.Kind {
	case KindInference:
		return ev.Inference.words()
	case KindLifecycle:
		return ev.Lifecycle.words()
	}
	return 0 // closed is Void; an unknown kind is written without a member
}

// putMember writes ev's union member at word next of seg, points word at to
// it, and returns the next free word.
func putMember(seg []byte, at, next int, ev *Event) int {
	switch ev.Kind {
	case KindInference:
		return ev.Inference.put(seg, at, next)
	case KindLifecycle:
		return ev.Lifecycle.put(seg, at, next)
	}
	return next
}

// member decodes the union member of root, whose discriminant is k, into
// ev and sets ev.Kind.
func (r *decReader) member(root *decStruct, k Kind, ev *Event) error {
	switch k {
	case KindInference:
		ev.Kind = k
		return r.inference(root, &ev.Inference)
	case KindLifecycle:
		ev.Kind = k
		return r.lifecycle(root, &ev.Lifecycle)
	case KindClosed:
		// Void: the member's pointer slot is not read.
		ev.Kind = k
		return nil
	}
	return invalid("union", "unknown union member %d", uint16(k))
}

// setMemberCapnp is the go-capnp reference encoder of ev's union member.
func setMemberCapnp(e schema.Event, ev *Event) error {
	switch ev.Kind {
	case KindInference:
		return ev.Inference.setCapnp(e)
	case KindLifecycle:
		return ev.Lifecycle.setCapnp(e)
	case KindClosed:
		e.SetClosed()
		return nil
	}
	return fmt.Errorf("wire: unknown event kind %d", ev.Kind)
}

// readMemberCapnp is the go-capnp reference decoder of e's union member.
func readMemberCapnp(e schema.Event, ev *Event) error {
	var err error
	switch e.Which() {
	case schema.Event_Which_inference:
		ev.Kind = KindInference
		err = ev.Inference.readCapnp(e)
	case schema.Event_Which_lifecycle:
		ev.Kind = KindLifecycle
		err = ev.Lifecycle.readCapnp(e)
	case schema.Event_Which_closed:
		ev.Kind = KindClosed
	default:
		return invalid("union", "unknown union member %d", uint16(e.Which()))
	}
	if err != nil {
		return &InvalidError{Reason: "decode", Err: err}
	}
	return nil
}
