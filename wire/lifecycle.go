package wire

import "github.com/readout-dev/readout/schema"

// The lifecycle kind: an endpoint of a model appearing or going away.
// Everything the codecs know about schema.LifecycleEvent is in this file;
// kinds.go routes to it.

// LifecycleType mirrors schema.LifecycleEventType.
type LifecycleType uint16

// LifecycleEndpoint is an endpoint appearing or going away.
const LifecycleEndpoint LifecycleType = 0

// Lifecycle mirrors schema.LifecycleEvent.
type Lifecycle struct {
	BeginTs   int64
	EndTs     int64
	EventType LifecycleType
	ModelID   string
	Hostname  string
	Endpoint  string
}

// LifecycleEvent's layout (see layout.go).
const (
	lifecycleDataWords = 3
	lifecyclePtrWords  = 3
	lifecycleTexts     = 3 // Text fields, each a pointer

	lifecycleBeginTs   = 0 // data section byte offsets
	lifecycleEndTs     = 8
	lifecycleEventType = 16

	lifecycleModelIDPtr  = 0 // pointer indexes
	lifecycleHostnamePtr = 1
	lifecycleEndpointPtr = 2

	// lifecycleMaxFixed bounds what a lifecycle member adds to an event's
	// encoding besides the bytes of its texts (see inferenceMaxFixed).
	lifecycleMaxFixed = 8*(lifecycleDataWords+lifecyclePtrWords) + 8*lifecycleTexts
)

// words is the size of the member struct and its texts.
func (v *Lifecycle) words() int {
	return lifecycleDataWords + lifecyclePtrWords + textWords(v.ModelID) + textWords(v.Hostname) + textWords(v.Endpoint)
}

// textBytes is the length of its texts.
func (v *Lifecycle) textBytes() int { return len(v.ModelID) + len(v.Hostname) + len(v.Endpoint) }

func (v *Lifecycle) fixed() int { return lifecycleMaxFixed }

// validText reports whether every text is valid UTF-8, as DecodeEvent
// requires.
func (v *Lifecycle) validText() bool {
	return validString(v.ModelID) && validString(v.Hostname) && validString(v.Endpoint)
}

// put writes v as a struct at word next of seg, points word at to it, and
// returns the next free word.
func (v *Lifecycle) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + lifecycleDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, lifecycleDataWords, lifecyclePtrWords))
	next = ptrs + lifecyclePtrWords
	d := (*[8 * lifecycleDataWords]byte)(seg[8*s:])
	le.PutUint64(d[lifecycleBeginTs:], uint64(v.BeginTs))
	le.PutUint64(d[lifecycleEndTs:], uint64(v.EndTs))
	le.PutUint16(d[lifecycleEventType:], uint16(v.EventType))
	next = putText(seg, ptrs+lifecycleModelIDPtr, next, v.ModelID)
	next = putText(seg, ptrs+lifecycleHostnamePtr, next, v.Hostname)
	return putText(seg, ptrs+lifecycleEndpointPtr, next, v.Endpoint)
}

// decLifecycleFields is decEventFields (decode.go) for the member struct.
func decLifecycleFields(data []byte, pad *[8 * lifecycleDataWords]byte) *[8 * lifecycleDataWords]byte {
	if len(data) >= len(pad) {
		return (*[8 * lifecycleDataWords]byte)(data)
	}
	copy(pad[:], data)
	return pad
}

// lifecycle decodes the member struct of parent into v.
func (r *decReader) lifecycle(parent *decStruct, v *Lifecycle) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var pad [8 * lifecycleDataWords]byte
	d := decLifecycleFields(s.data, &pad)
	v.BeginTs = int64(le.Uint64(d[lifecycleBeginTs:]))
	v.EndTs = int64(le.Uint64(d[lifecycleEndTs:]))
	v.EventType = LifecycleType(le.Uint16(d[lifecycleEventType:]))
	if v.ModelID, err = r.text(&s, lifecycleModelIDPtr); err != nil {
		return err
	}
	if v.Hostname, err = r.text(&s, lifecycleHostnamePtr); err != nil {
		return err
	}
	v.Endpoint, err = r.text(&s, lifecycleEndpointPtr)
	return err
}

// setCapnp is the go-capnp reference encoder of v into e's union.
func (v *Lifecycle) setCapnp(e schema.Event) error {
	lc, err := e.NewLifecycle()
	if err != nil {
		return err
	}
	lc.SetBeginTs(v.BeginTs)
	lc.SetEndTs(v.EndTs)
	lc.SetEventType(schema.LifecycleEventType(v.EventType))
	if err := lc.SetModelId(v.ModelID); err != nil {
		return err
	}
	if err := lc.SetHostname(v.Hostname); err != nil {
		return err
	}
	return lc.SetEndpoint(v.Endpoint)
}

// readCapnp is the go-capnp reference decoder of e's union into v.
func (v *Lifecycle) readCapnp(e schema.Event) error {
	lc, err := e.Lifecycle()
	if err != nil {
		return err
	}
	v.BeginTs = lc.BeginTs()
	v.EndTs = lc.EndTs()
	v.EventType = LifecycleType(lc.EventType())
	if v.ModelID, err = lc.ModelId(); err != nil {
		return err
	}
	if v.Hostname, err = lc.Hostname(); err != nil {
		return err
	}
	v.Endpoint, err = lc.Endpoint()
	return err
}
