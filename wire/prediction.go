package wire

import "github.com/readout-dev/readout/schema"

// The prediction kind: one prediction, reported at its terminal state.
// Everything the codecs know about schema.PredictionEvent is in this file;
// kinds.go routes to it.

// PredictionStatus mirrors schema.PredictionStatus.
type PredictionStatus uint16

// Prediction statuses, numbered as on the wire.
const (
	PredictionProcessing PredictionStatus = 0
	PredictionSucceeded  PredictionStatus = 1
	PredictionFailed     PredictionStatus = 2
	PredictionCanceled   PredictionStatus = 3
	PredictionAborted    PredictionStatus = 4
)

// String returns the schema's enumerant name.
func (s PredictionStatus) String() string {
	switch s {
	case PredictionProcessing:
		return "processing"
	case PredictionSucceeded:
		return "succeeded"
	case PredictionFailed:
		return "failed"
	case PredictionCanceled:
		return "canceled"
	case PredictionAborted:
		return "aborted"
	}
	return "unknown"
}

// Valid reports whether s is an enumerant this version knows.
func (s PredictionStatus) Valid() bool { return s <= PredictionAborted }

// Terminal reports whether s is a final state.
func (s PredictionStatus) Terminal() bool { return s >= PredictionSucceeded && s <= PredictionAborted }

// Prediction mirrors schema.PredictionEvent; see events.capnp.
type Prediction struct {
	PredictionID  string
	DeploymentKey string
	Version       string
	ErrorCode     string
	CancelReason  string
	Status        PredictionStatus
	CreatedAtNs   int64
	StartedAtNs   int64
	CompletedAtNs int64
	InputTokens   uint32
	OutputTokens  uint32
	ImageCount    uint32
	Attributes    []Label
}

// PredictionEvent's layout (see layout.go).
const (
	predictionDataWords = 5
	predictionPtrWords  = 6
	predictionTexts     = 5

	predictionStatus       = 0 // data section byte offsets
	predictionInputTokens  = 4
	predictionCreatedAt    = 8
	predictionStartedAt    = 16
	predictionCompletedAt  = 24
	predictionOutputTokens = 32
	predictionImageCount   = 36

	predictionAttributesPtr    = 5 // pointer index; texts are 0..4
	predictionMaxFixedNoLabels = 8*(predictionDataWords+predictionPtrWords) + 8*predictionTexts
)

func (v *Prediction) texts() [predictionTexts]string {
	return [...]string{v.PredictionID, v.DeploymentKey, v.Version, v.ErrorCode, v.CancelReason}
}

func (v *Prediction) words() int {
	n := predictionDataWords + predictionPtrWords + labelsWords(v.Attributes)
	for _, s := range v.texts() {
		n += textWords(s)
	}
	return n
}

func (v *Prediction) textBytes() int {
	n := labelsTextBytes(v.Attributes)
	for _, s := range v.texts() {
		n += len(s)
	}
	return n
}

func (v *Prediction) fixed() int { return predictionMaxFixedNoLabels + labelsFixed(v.Attributes) }

func (v *Prediction) validText() bool {
	for _, s := range v.texts() {
		if !validString(s) {
			return false
		}
	}
	return labelsValid(v.Attributes)
}

func (v *Prediction) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + predictionDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, predictionDataWords, predictionPtrWords))
	next = ptrs + predictionPtrWords
	d := (*[8 * predictionDataWords]byte)(seg[8*s:])
	le.PutUint16(d[predictionStatus:], uint16(v.Status))
	le.PutUint32(d[predictionInputTokens:], v.InputTokens)
	le.PutUint64(d[predictionCreatedAt:], uint64(v.CreatedAtNs))
	le.PutUint64(d[predictionStartedAt:], uint64(v.StartedAtNs))
	le.PutUint64(d[predictionCompletedAt:], uint64(v.CompletedAtNs))
	le.PutUint32(d[predictionOutputTokens:], v.OutputTokens)
	le.PutUint32(d[predictionImageCount:], v.ImageCount)
	for i, t := range v.texts() {
		next = putText(seg, ptrs+i, next, t)
	}
	return putLabels(seg, ptrs+predictionAttributesPtr, next, v.Attributes)
}

func (r *decReader) prediction(parent *decStruct, v *Prediction, labels *[]Label) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var d [8 * predictionDataWords]byte
	copy(d[:], s.data)
	v.Status = PredictionStatus(le.Uint16(d[predictionStatus:]))
	v.InputTokens = le.Uint32(d[predictionInputTokens:])
	v.CreatedAtNs = int64(le.Uint64(d[predictionCreatedAt:]))
	v.StartedAtNs = int64(le.Uint64(d[predictionStartedAt:]))
	v.CompletedAtNs = int64(le.Uint64(d[predictionCompletedAt:]))
	v.OutputTokens = le.Uint32(d[predictionOutputTokens:])
	v.ImageCount = le.Uint32(d[predictionImageCount:])
	for i, p := range [...]*string{&v.PredictionID, &v.DeploymentKey, &v.Version, &v.ErrorCode, &v.CancelReason} {
		if *p, err = r.text(&s, i); err != nil {
			return err
		}
	}
	v.Attributes, err = r.labelsInto(&s, predictionAttributesPtr, labels)
	return err
}

func (v *Prediction) setCapnp(e schema.Event) error {
	p, err := e.NewPrediction()
	if err != nil {
		return err
	}
	p.SetStatus(schema.PredictionStatus(v.Status))
	p.SetCreatedAtNs(v.CreatedAtNs)
	p.SetStartedAtNs(v.StartedAtNs)
	p.SetCompletedAtNs(v.CompletedAtNs)
	p.SetInputTokens(v.InputTokens)
	p.SetOutputTokens(v.OutputTokens)
	p.SetImageCount(v.ImageCount)
	for _, set := range []func() error{
		func() error { return p.SetPredictionId(v.PredictionID) },
		func() error { return p.SetDeploymentKey(v.DeploymentKey) },
		func() error { return p.SetVersion(v.Version) },
		func() error { return p.SetErrorCode(v.ErrorCode) },
		func() error { return p.SetCancelReason(v.CancelReason) },
		func() error { return setLabelsCapnp(v.Attributes, p.NewAttributes) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	return nil
}

func (v *Prediction) readCapnp(e schema.Event) error {
	p, err := e.Prediction()
	if err != nil {
		return err
	}
	v.Status = PredictionStatus(p.Status())
	v.CreatedAtNs = p.CreatedAtNs()
	v.StartedAtNs = p.StartedAtNs()
	v.CompletedAtNs = p.CompletedAtNs()
	v.InputTokens = p.InputTokens()
	v.OutputTokens = p.OutputTokens()
	v.ImageCount = p.ImageCount()
	for _, get := range []func() error{
		func() (err error) { v.PredictionID, err = p.PredictionId(); return },
		func() (err error) { v.DeploymentKey, err = p.DeploymentKey(); return },
		func() (err error) { v.Version, err = p.Version(); return },
		func() (err error) { v.ErrorCode, err = p.ErrorCode(); return },
		func() (err error) { v.CancelReason, err = p.CancelReason(); return },
		func() (err error) { v.Attributes, err = readLabelsCapnp(p.Attributes()); return },
	} {
		if err := get(); err != nil {
			return err
		}
	}
	return nil
}
