package wire

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/readout-dev/readout/schema"
)

// The switches that route each codec to the kind's own file. A new kind
// adds one case to each (see Kind).

// Errors of Member.Check.
var (
	// ErrInvalidText: a Text field is not valid UTF-8.
	ErrInvalidText = errors.New("wire: a text field is not valid UTF-8")
	// ErrEventTooLarge: the event's encoding would exceed the limit.
	ErrEventTooLarge = errors.New("wire: event larger than the message size limit")
	// ErrNoEvent: the Member holds nothing (the caller passed a nil event).
	ErrNoEvent = errors.New("wire: no event")
)

// stampedEnvelopeSize is the size of a single-segment message before its
// union member: the segment table, the root pointer, the Event struct and
// 16-byte id and emitter id.
const stampedEnvelopeSize = frameHeader + 8*(1+eventDataWords+eventPtrWords+2+2)

// Member is one value of the Event union, of any kind, as an emitter hands
// it along: by reference, so that an Emit that drops the event never
// copies it, and as one type, so that the emitter needs no parameter or
// case per kind. Check says whether a forwarder would accept it; Fill
// copies it into an Event. Make one with the kind's constructor
// (InferenceMember, LifecycleMember); the zero Member holds nothing, and
// Check refuses it. A Member refers to the caller's value: it must not
// outlive the call it was made for.
//
// (A *Event would cost every Emit a copy of the whole Event, about 9 ns on
// a 27 ns drop path; an interface would make the caller's value escape to
// the heap, one allocation per request.)
type Member struct {
	// p points at the value of kind k; nil for the zero Member. (One
	// pointer and a kind keep a Member two words, as the emitter passes
	// it down its hot path by value; a pointer per kind made that path
	// 40% slower.)
	p unsafe.Pointer
	k Kind
}

// member makes the Member of a value of kind k; a nil v makes the zero
// Member.
func member[T any](v *T, k Kind) Member {
	if v == nil {
		return Member{}
	}
	return Member{p: unsafe.Pointer(v), k: k}
}

// InferenceMember refers to v; a nil v makes the zero Member.
func InferenceMember(v *Inference) Member { return member(v, KindInference) }

// LifecycleMember refers to v; a nil v makes the zero Member.
func LifecycleMember(v *Lifecycle) Member { return member(v, KindLifecycle) }

// InstanceStateMember refers to v; a nil v makes the zero Member.
func InstanceStateMember(v *InstanceState) Member { return member(v, KindInstanceState) }

// SetupRunMember refers to v; a nil v makes the zero Member.
func SetupRunMember(v *SetupRun) Member { return member(v, KindSetupRun) }

// PredictionMember refers to v; a nil v makes the zero Member.
func PredictionMember(v *Prediction) Member { return member(v, KindPrediction) }

// DownloadMember refers to v; a nil v makes the zero Member.
func DownloadMember(v *Download) Member { return member(v, KindDownload) }

// Check reports whether a forwarder would accept m's event once an emitter
// has stamped it with its id and emitter id: ErrInvalidText when a Text
// field is not valid UTF-8 (DecodeEvent refuses such Text, since the
// collector stores it as Parquet strings), ErrEventTooLarge when the
// encoding would exceed limit bytes, ErrNoEvent for the zero Member, and
// nil otherwise. It does not allocate. Only texts can make an event large,
// so the exact size is computed only when they could reach the limit.
func (m Member) Check(limit int) error {
	if m.p == nil {
		return ErrNoEvent
	}
	var valid bool
	var n, fixed int
	switch m.k {
	case KindInference:
		v := (*Inference)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	case KindLifecycle:
		v := (*Lifecycle)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	case KindInstanceState:
		v := (*InstanceState)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	case KindSetupRun:
		v := (*SetupRun)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	case KindPrediction:
		v := (*Prediction)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	case KindDownload:
		v := (*Download)(m.p)
		valid, n, fixed = v.validText(), v.textBytes(), v.fixed()
	default:
		return ErrNoEvent
	}
	if !valid {
		return ErrInvalidText
	}
	if n <= limit-stampedEnvelopeSize-fixed {
		return nil
	}
	// Only texts can make an event large: the exact size is computed only
	// when they could reach the limit.
	if stampedEnvelopeSize+8*m.words() > limit {
		return ErrEventTooLarge
	}
	return nil
}

// words is the size of m's value as a union member.
func (m Member) words() int {
	switch m.k {
	case KindInference:
		return (*Inference)(m.p).words()
	case KindLifecycle:
		return (*Lifecycle)(m.p).words()
	case KindInstanceState:
		return (*InstanceState)(m.p).words()
	case KindSetupRun:
		return (*SetupRun)(m.p).words()
	case KindPrediction:
		return (*Prediction)(m.p).words()
	case KindDownload:
		return (*Download)(m.p).words()
	}
	return 0
}

// Fill overwrites ev with an Event that carries m's value: Kind and the
// union member set, every other field zero, provided ev holds at most the
// member of its own Kind (as the zero Event and every Event that Fill or
// DecodeEvent wrote do): only that member is cleared, so that the emitter's
// hot path does not zero a whole Event (every kind's member) per call.
// Label lists are copied into ev's own buffer, which it reuses from one
// Fill to the next, so that ev shares no mutable memory with the caller.
func (m Member) Fill(ev *Event) {
	ev.clearMember()
	ev.ID, ev.EmitterID = [16]byte{}, [16]byte{}
	ev.TimestampNs, ev.Seq, ev.DroppedTotal = 0, 0, 0
	if m.p == nil {
		ev.Kind = KindInference // the zero Event
		return
	}
	switch m.k {
	case KindInference:
		ev.Kind, ev.Inference = KindInference, *(*Inference)(m.p)
	case KindLifecycle:
		ev.Kind, ev.Lifecycle = KindLifecycle, *(*Lifecycle)(m.p)
	case KindInstanceState:
		v := (*InstanceState)(m.p)
		ev.Kind, ev.InstanceState = KindInstanceState, *v
		ev.InstanceState.InstanceMetadata = ev.ownLabels(&ev.labels, v.InstanceMetadata, true)
	case KindSetupRun:
		v := (*SetupRun)(m.p)
		ev.Kind, ev.SetupRun = KindSetupRun, *v
		ev.SetupRun.InstanceMetadata = ev.ownLabels(&ev.labels, v.InstanceMetadata, true)
		ev.SetupRun.RuntimeMetadata = ev.ownLabels(&ev.labels, v.RuntimeMetadata, false)
	case KindPrediction:
		v := (*Prediction)(m.p)
		ev.Kind, ev.Prediction = KindPrediction, *v
		ev.Prediction.Attributes = ev.ownLabels(&ev.labels, v.Attributes, true)
	case KindDownload:
		ev.Kind, ev.Download = KindDownload, *(*Download)(m.p)
	}
}

// clearMember zeroes the member of ev's Kind.
func (ev *Event) clearMember() {
	switch ev.Kind {
	case KindInference:
		ev.Inference = Inference{}
	case KindLifecycle:
		ev.Lifecycle = Lifecycle{}
	case KindInstanceState:
		ev.InstanceState = InstanceState{}
	case KindSetupRun:
		ev.SetupRun = SetupRun{}
	case KindPrediction:
		ev.Prediction = Prediction{}
	case KindDownload:
		ev.Download = Download{}
	}
}

// ownLabels copies ls into the reused buffer *buf (from its start when
// first, after what an earlier list of the same event put there) and
// returns the copy; an empty ls is nil.
func (ev *Event) ownLabels(buf *[]Label, ls []Label, first bool) []Label {
	if first {
		*buf = (*buf)[:0]
	}
	if len(ls) == 0 {
		return nil
	}
	start := len(*buf)
	*buf = append(*buf, ls...)
	return (*buf)[start:len(*buf):len(*buf)]
}

// memberWords is the size of ev's union member and what it points to.
func memberWords(ev *Event) int {
	switch ev.Kind {
	case KindInference:
		return ev.Inference.words()
	case KindLifecycle:
		return ev.Lifecycle.words()
	case KindInstanceState:
		return ev.InstanceState.words()
	case KindSetupRun:
		return ev.SetupRun.words()
	case KindPrediction:
		return ev.Prediction.words()
	case KindDownload:
		return ev.Download.words()
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
	case KindInstanceState:
		return ev.InstanceState.put(seg, at, next)
	case KindSetupRun:
		return ev.SetupRun.put(seg, at, next)
	case KindPrediction:
		return ev.Prediction.put(seg, at, next)
	case KindDownload:
		return ev.Download.put(seg, at, next)
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
	case KindInstanceState:
		ev.Kind = k
		return r.instanceState(root, &ev.InstanceState, &ev.labels)
	case KindSetupRun:
		ev.Kind = k
		return r.setupRun(root, &ev.SetupRun, &ev.labels)
	case KindPrediction:
		ev.Kind = k
		return r.prediction(root, &ev.Prediction, &ev.labels)
	case KindDownload:
		ev.Kind = k
		return r.download(root, &ev.Download)
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
	case KindInstanceState:
		return ev.InstanceState.setCapnp(e)
	case KindSetupRun:
		return ev.SetupRun.setCapnp(e)
	case KindPrediction:
		return ev.Prediction.setCapnp(e)
	case KindDownload:
		return ev.Download.setCapnp(e)
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
	case schema.Event_Which_instanceState:
		ev.Kind = KindInstanceState
		err = ev.InstanceState.readCapnp(e)
	case schema.Event_Which_setupRun:
		ev.Kind = KindSetupRun
		err = ev.SetupRun.readCapnp(e)
	case schema.Event_Which_prediction:
		ev.Kind = KindPrediction
		err = ev.Prediction.readCapnp(e)
	case schema.Event_Which_download:
		ev.Kind = KindDownload
		err = ev.Download.readCapnp(e)
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
