package wire

import (
	"errors"
	"fmt"

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
	// One pointer per kind that carries a value; at most one is set.
	in *Inference
	lc *Lifecycle
	is *InstanceState
	sr *SetupRun
	pr *Prediction
	dl *Download
}

// InferenceMember refers to v; a nil v makes the zero Member.
func InferenceMember(v *Inference) Member { return Member{in: v} }

// LifecycleMember refers to v; a nil v makes the zero Member.
func LifecycleMember(v *Lifecycle) Member { return Member{lc: v} }

// InstanceStateMember refers to v; a nil v makes the zero Member.
func InstanceStateMember(v *InstanceState) Member { return Member{is: v} }

// SetupRunMember refers to v; a nil v makes the zero Member.
func SetupRunMember(v *SetupRun) Member { return Member{sr: v} }

// PredictionMember refers to v; a nil v makes the zero Member.
func PredictionMember(v *Prediction) Member { return Member{pr: v} }

// DownloadMember refers to v; a nil v makes the zero Member.
func DownloadMember(v *Download) Member { return Member{dl: v} }

// Check reports whether a forwarder would accept m's event once an emitter
// has stamped it with its id and emitter id: ErrInvalidText when a Text
// field is not valid UTF-8 (DecodeEvent refuses such Text, since the
// collector stores it as Parquet strings), ErrEventTooLarge when the
// encoding would exceed limit bytes, ErrNoEvent for the zero Member, and
// nil otherwise. It does not allocate. Only texts can make an event large,
// so the exact size is computed only when they could reach the limit.
func (m Member) Check(limit int) error {
	var valid bool
	var n, fixed int
	switch {
	case m.in != nil:
		valid, n, fixed = m.in.validText(), m.in.textBytes(), m.in.fixed()
	case m.lc != nil:
		valid, n, fixed = m.lc.validText(), m.lc.textBytes(), m.lc.fixed()
	case m.is != nil:
		valid, n, fixed = m.is.validText(), m.is.textBytes(), m.is.fixed()
	case m.sr != nil:
		valid, n, fixed = m.sr.validText(), m.sr.textBytes(), m.sr.fixed()
	case m.pr != nil:
		valid, n, fixed = m.pr.validText(), m.pr.textBytes(), m.pr.fixed()
	case m.dl != nil:
		valid, n, fixed = m.dl.validText(), m.dl.textBytes(), m.dl.fixed()
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
	var ev Event
	m.Fill(&ev)
	if stampedEnvelopeSize+8*memberWords(&ev) > limit {
		return ErrEventTooLarge
	}
	return nil
}

// Fill overwrites ev with an Event that carries m's value: Kind and the
// union member set, every other field zero. Label lists are copied into
// ev's own buffer, which it reuses from one Fill to the next, so that ev
// shares no mutable memory with the caller.
func (m Member) Fill(ev *Event) {
	buf := ev.labels[:0]
	switch {
	case m.in != nil:
		*ev = Event{Kind: KindInference, Inference: *m.in}
	case m.lc != nil:
		*ev = Event{Kind: KindLifecycle, Lifecycle: *m.lc}
	case m.is != nil:
		*ev = Event{Kind: KindInstanceState, InstanceState: *m.is}
	case m.sr != nil:
		*ev = Event{Kind: KindSetupRun, SetupRun: *m.sr}
	case m.pr != nil:
		*ev = Event{Kind: KindPrediction, Prediction: *m.pr}
	case m.dl != nil:
		*ev = Event{Kind: KindDownload, Download: *m.dl}
	default:
		*ev = Event{}
	}
	ev.labels = buf
	for _, l := range [...]*[]Label{&ev.InstanceState.InstanceMetadata, &ev.SetupRun.InstanceMetadata,
		&ev.SetupRun.RuntimeMetadata, &ev.Prediction.Attributes} {
		if len(*l) == 0 {
			*l = nil
			continue
		}
		start := len(ev.labels)
		ev.labels = append(ev.labels, *l...)
		*l = ev.labels[start:len(ev.labels):len(ev.labels)]
	}
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
