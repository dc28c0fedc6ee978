// Package wire is readout's view of the Cap'n Proto messages in
// schema/events.capnp as plain Go values, plus the stream framing they travel
// in. The emitter, forwarder and collector all speak through it so that the
// wire format is defined once.
package wire

import (
	"math"
	"reflect"
)

// Kind says which member of the Event union a message carries.
//
// Each kind's Go type, layout and codecs live in a file of its own
// (inference.go, lifecycle.go); kinds.go routes every codec to it. Adding a
// kind:
//  1. schema/events.capnp: the union member and its struct; make generate.
//  2. wire/<kind>.go: the Go type, its layout table, and the codec methods
//     lifecycle.go has (words, textBytes, validText, put, the decReader
//     method, setCapnp, readCapnp).
//  3. here: a Kind constant and its String, and the field on Event.
//  4. kinds.go: one case in each switch, and the kind's pointer and
//     constructor on Member; kinds_test.go: the kind in memberOf.
//  5. emitter: a thin public EmitX that passes wire.XMember(v) to offer;
//     nothing else there knows the kinds.
//
// TestEveryKindRoundTrips fails until steps 2 to 4 are done.
type Kind uint16

// The Event union members, numbered as their discriminants on the wire.
const (
	KindInference     Kind = 0
	KindLifecycle     Kind = 1
	KindClosed        Kind = 2
	KindInstanceState Kind = 3
	KindSetupRun      Kind = 4
	KindPrediction    Kind = 5
	KindDownload      Kind = 6
)

// Kinds is every kind that carries an event, in discriminant order.
var Kinds = []Kind{KindInference, KindLifecycle, KindInstanceState, KindSetupRun, KindPrediction, KindDownload}

func (k Kind) String() string {
	switch k {
	case KindInference:
		return "inference"
	case KindLifecycle:
		return "lifecycle"
	case KindClosed:
		return "closed"
	case KindInstanceState:
		return "instance_state"
	case KindSetupRun:
		return "setup_run"
	case KindPrediction:
		return "prediction"
	case KindDownload:
		return "download"
	}
	return "unknown"
}

// Event is the envelope of schema.Event. A zero ID or EmitterID means the
// field was absent on the wire.
type Event struct {
	ID           [16]byte
	TimestampNs  int64
	EmitterID    [16]byte
	Seq          uint64
	DroppedTotal uint64
	Kind         Kind
	Inference    Inference // meaningful when Kind == KindInference
	Lifecycle    Lifecycle // meaningful when Kind == KindLifecycle

	InstanceState InstanceState // meaningful when Kind == KindInstanceState
	SetupRun      SetupRun      // meaningful when Kind == KindSetupRun
	Prediction    Prediction    // meaningful when Kind == KindPrediction
	Download      Download      // meaningful when Kind == KindDownload

	// labels is DecodeEvent's buffer for the members' label lists, kept
	// across decodes into the same Event so that they do not allocate.
	labels []Label
}

// Anonymous reports whether the event carries no emitter id, and so cannot be
// deduplicated, replayed or audited.
func (e *Event) Anonymous() bool { return e.EmitterID == [16]byte{} }

// Ack mirrors schema.Ack, the forwarder's acknowledgement to an emitter.
type Ack struct {
	DurableSeq uint64
	Closed     bool
}

// Batch mirrors schema.Batch. Events holds stream-framed Event messages back
// to back; use Frames to walk them.
type Batch struct {
	ForwarderID [16]byte
	BatchSeq    uint64
	CreatedNs   int64
	EventCount  uint32
	Events      []byte
}

// Equal reports whether a and b carry the same event: every field equal,
// floats compared by their bits (so NaN equals NaN), label lists by
// content (a nil list equals an empty one). It is for tests and tools;
// nothing on a hot path compares events.
func Equal(a, b *Event) bool {
	x, y := *a, *b
	if math.Float64bits(x.Inference.Neurons) != math.Float64bits(y.Inference.Neurons) ||
		math.Float64bits(x.Download.BytesPerSecond) != math.Float64bits(y.Download.BytesPerSecond) {
		return false
	}
	for _, e := range []*Event{&x, &y} {
		e.Inference.Neurons, e.Download.BytesPerSecond, e.labels = 0, 0, nil
		for _, l := range []*[]Label{&e.InstanceState.InstanceMetadata, &e.SetupRun.InstanceMetadata,
			&e.SetupRun.RuntimeMetadata, &e.Prediction.Attributes} {
			if len(*l) == 0 {
				*l = nil
			}
		}
	}
	return reflect.DeepEqual(x, y)
}
