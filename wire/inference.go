package wire

import (
	"math"

	"github.com/readout-dev/readout/schema"
)

// The inference kind: one event per request an inference server handles.
// Everything the codecs know about schema.InferenceEvent is in this file;
// kinds.go routes to it.

// RequestSource mirrors the schema's RequestSource enum.
type RequestSource uint16

// Request sources, numbered as on the wire.
const (
	SourceUnknown RequestSource = 0
	SourceWorker  RequestSource = 1
	SourcePages   RequestSource = 2
	SourceRESTAPI RequestSource = 3
)

// String returns the schema's enumerant name.
func (s RequestSource) String() string {
	switch s {
	case SourceUnknown:
		return "unknown"
	case SourceWorker:
		return "worker"
	case SourcePages:
		return "pages"
	case SourceRESTAPI:
		return "restApi"
	}
	return "unknown"
}

// Inference mirrors schema.InferenceEvent; see events.capnp for units.
type Inference struct {
	AccountID          uint64
	ModelID            string
	RequestTimeUs      uint64
	InferenceTimeUs    uint64
	QueuingTimeUs      uint64
	TimeToFirstTokenUs uint64
	Neurons            float64
	ErrorCode          uint32
	HTTPStatus         uint16
	ColoID             uint32
	SourceColoID       uint32
	LocalQueueSize     uint32
	ModelContainerID   string
	RequestSource      RequestSource
	Streamed           bool
	Beta               bool
	ExternalEndpoint   bool
	QueuedInColo       bool
	UnixSocket         bool
	Backend            string
	InputTokens        uint32
	OutputTokens       uint32
}

// InferenceEvent's layout (see layout.go).
const (
	inferenceDataWords = 10
	inferencePtrWords  = 3
	inferenceTexts     = 3 // Text fields, each a pointer

	inferenceAccountID           = 0 // data section byte offsets
	inferenceRequestTime         = 8
	inferenceInferenceTime       = 16
	inferenceQueuingTime         = 24
	inferenceTTFT                = 32
	inferenceNeurons             = 40
	inferenceErrorCode           = 48
	inferenceHTTPStatus          = 52
	inferenceRequestSource       = 54
	inferenceColoID              = 56
	inferenceSourceColoID        = 60
	inferenceLocalQueueSize      = 64
	inferenceFlags               = 68 // bits 544..548, the Bools: bits 0..4 of this byte
	inferenceStreamedBit         = 0
	inferenceBetaBit             = 1
	inferenceExternalBit         = 2
	inferenceQueuedInColoBit     = 3
	inferenceUnixSocketBit       = 4
	inferenceInputTokens         = 72
	inferenceOutputTokens        = 76
	inferenceModelIDPtr          = 0 // pointer indexes
	inferenceModelContainerIDPtr = 1
	inferenceBackendPtr          = 2

	// inferenceMaxFixed bounds what an inference member adds to an
	// event's encoding besides the bytes of its texts: its struct, and per
	// text a NUL and up to 7 bytes of padding.
	inferenceMaxFixed = 8*(inferenceDataWords+inferencePtrWords) + 8*inferenceTexts
)

// words is the size of the member struct and its texts.
func (v *Inference) words() int {
	return inferenceDataWords + inferencePtrWords +
		textWords(v.ModelID) + textWords(v.ModelContainerID) + textWords(v.Backend)
}

// textBytes is the length of its texts.
func (v *Inference) textBytes() int {
	return len(v.ModelID) + len(v.ModelContainerID) + len(v.Backend)
}

func (v *Inference) fixed() int { return inferenceMaxFixed }

// validText reports whether every text is valid UTF-8, as DecodeEvent
// requires.
func (v *Inference) validText() bool {
	return validString(v.ModelID) && validString(v.ModelContainerID) && validString(v.Backend)
}

// put writes v as a struct at word next of seg, points word at to it, and
// returns the next free word.
func (v *Inference) put(seg []byte, at, next int) int {
	s := next
	ptrs := s + inferenceDataWords
	putPointer(seg[8*at:], structPointer(s-at-1, inferenceDataWords, inferencePtrWords))
	next = ptrs + inferencePtrWords
	d := (*[8 * inferenceDataWords]byte)(seg[8*s:])
	le.PutUint64(d[inferenceAccountID:], v.AccountID)
	le.PutUint64(d[inferenceRequestTime:], v.RequestTimeUs)
	le.PutUint64(d[inferenceInferenceTime:], v.InferenceTimeUs)
	le.PutUint64(d[inferenceQueuingTime:], v.QueuingTimeUs)
	le.PutUint64(d[inferenceTTFT:], v.TimeToFirstTokenUs)
	le.PutUint64(d[inferenceNeurons:], math.Float64bits(v.Neurons))
	le.PutUint32(d[inferenceErrorCode:], v.ErrorCode)
	le.PutUint16(d[inferenceHTTPStatus:], v.HTTPStatus)
	le.PutUint16(d[inferenceRequestSource:], uint16(v.RequestSource))
	le.PutUint32(d[inferenceColoID:], v.ColoID)
	le.PutUint32(d[inferenceSourceColoID:], v.SourceColoID)
	le.PutUint32(d[inferenceLocalQueueSize:], v.LocalQueueSize)
	d[inferenceFlags] = bit(v.Streamed, inferenceStreamedBit) | bit(v.Beta, inferenceBetaBit) |
		bit(v.ExternalEndpoint, inferenceExternalBit) | bit(v.QueuedInColo, inferenceQueuedInColoBit) |
		bit(v.UnixSocket, inferenceUnixSocketBit)
	le.PutUint32(d[inferenceInputTokens:], v.InputTokens)
	le.PutUint32(d[inferenceOutputTokens:], v.OutputTokens)
	next = putText(seg, ptrs+inferenceModelIDPtr, next, v.ModelID)
	next = putText(seg, ptrs+inferenceModelContainerIDPtr, next, v.ModelContainerID)
	return putText(seg, ptrs+inferenceBackendPtr, next, v.Backend)
}

// decInferenceFields is decEventFields (decode.go) for the member struct.
func decInferenceFields(data []byte, pad *[8 * inferenceDataWords]byte) *[8 * inferenceDataWords]byte {
	if len(data) >= len(pad) {
		return (*[8 * inferenceDataWords]byte)(data)
	}
	copy(pad[:], data)
	return pad
}

// inference decodes the member struct of parent into v.
func (r *decReader) inference(parent *decStruct, v *Inference) error {
	s, err := r.structPtr(parent, eventMemberPtr)
	if err != nil {
		return err
	}
	var pad [8 * inferenceDataWords]byte
	d := decInferenceFields(s.data, &pad)
	v.AccountID = le.Uint64(d[inferenceAccountID:])
	v.RequestTimeUs = le.Uint64(d[inferenceRequestTime:])
	v.InferenceTimeUs = le.Uint64(d[inferenceInferenceTime:])
	v.QueuingTimeUs = le.Uint64(d[inferenceQueuingTime:])
	v.TimeToFirstTokenUs = le.Uint64(d[inferenceTTFT:])
	v.Neurons = math.Float64frombits(le.Uint64(d[inferenceNeurons:]))
	v.ErrorCode = le.Uint32(d[inferenceErrorCode:])
	v.HTTPStatus = le.Uint16(d[inferenceHTTPStatus:])
	v.ColoID = le.Uint32(d[inferenceColoID:])
	v.SourceColoID = le.Uint32(d[inferenceSourceColoID:])
	v.LocalQueueSize = le.Uint32(d[inferenceLocalQueueSize:])
	v.RequestSource = RequestSource(le.Uint16(d[inferenceRequestSource:]))
	flags := d[inferenceFlags]
	v.Streamed = flags&(1<<inferenceStreamedBit) != 0
	v.Beta = flags&(1<<inferenceBetaBit) != 0
	v.ExternalEndpoint = flags&(1<<inferenceExternalBit) != 0
	v.QueuedInColo = flags&(1<<inferenceQueuedInColoBit) != 0
	v.UnixSocket = flags&(1<<inferenceUnixSocketBit) != 0
	v.InputTokens = le.Uint32(d[inferenceInputTokens:])
	v.OutputTokens = le.Uint32(d[inferenceOutputTokens:])
	if v.ModelID, err = r.text(&s, inferenceModelIDPtr); err != nil {
		return err
	}
	if v.ModelContainerID, err = r.text(&s, inferenceModelContainerIDPtr); err != nil {
		return err
	}
	v.Backend, err = r.text(&s, inferenceBackendPtr)
	return err
}

// setCapnp is the go-capnp reference encoder of v into e's union.
func (v *Inference) setCapnp(e schema.Event) error {
	in, err := e.NewInference()
	if err != nil {
		return err
	}
	in.SetAccountId(v.AccountID)
	if err := in.SetModelId(v.ModelID); err != nil {
		return err
	}
	in.SetRequestTimeUs(v.RequestTimeUs)
	in.SetInferenceTimeUs(v.InferenceTimeUs)
	in.SetQueuingTimeUs(v.QueuingTimeUs)
	in.SetTimeToFirstTokenUs(v.TimeToFirstTokenUs)
	in.SetNeurons(v.Neurons)
	in.SetErrorCode(v.ErrorCode)
	in.SetHttpStatus(v.HTTPStatus)
	in.SetColoId(v.ColoID)
	in.SetSourceColoId(v.SourceColoID)
	in.SetLocalQueueSize(v.LocalQueueSize)
	if err := in.SetModelContainerId(v.ModelContainerID); err != nil {
		return err
	}
	in.SetRequestSource(schema.RequestSource(v.RequestSource))
	in.SetStreamed(v.Streamed)
	in.SetBeta(v.Beta)
	in.SetExternalEndpoint(v.ExternalEndpoint)
	in.SetQueuedInColo(v.QueuedInColo)
	in.SetUnixSocket(v.UnixSocket)
	if err := in.SetBackend(v.Backend); err != nil {
		return err
	}
	in.SetInputTokens(v.InputTokens)
	in.SetOutputTokens(v.OutputTokens)
	return nil
}

// readCapnp is the go-capnp reference decoder of e's union into v.
func (v *Inference) readCapnp(e schema.Event) error {
	in, err := e.Inference()
	if err != nil {
		return err
	}
	v.AccountID = in.AccountId()
	if v.ModelID, err = in.ModelId(); err != nil {
		return err
	}
	v.RequestTimeUs = in.RequestTimeUs()
	v.InferenceTimeUs = in.InferenceTimeUs()
	v.QueuingTimeUs = in.QueuingTimeUs()
	v.TimeToFirstTokenUs = in.TimeToFirstTokenUs()
	v.Neurons = in.Neurons()
	v.ErrorCode = in.ErrorCode()
	v.HTTPStatus = in.HttpStatus()
	v.ColoID = in.ColoId()
	v.SourceColoID = in.SourceColoId()
	v.LocalQueueSize = in.LocalQueueSize()
	if v.ModelContainerID, err = in.ModelContainerId(); err != nil {
		return err
	}
	v.RequestSource = RequestSource(in.RequestSource())
	v.Streamed = in.Streamed()
	v.Beta = in.Beta()
	v.ExternalEndpoint = in.ExternalEndpoint()
	v.QueuedInColo = in.QueuedInColo()
	v.UnixSocket = in.UnixSocket()
	if v.Backend, err = in.Backend(); err != nil {
		return err
	}
	v.InputTokens = in.InputTokens()
	v.OutputTokens = in.OutputTokens()
	return nil
}
