// Package wire is readout's view of the Cap'n Proto messages in
// schema/events.capnp as plain Go values, plus the stream framing they travel
// in. The emitter, forwarder and collector all speak through it so that the
// wire format is defined once.
package wire

// Kind says which member of the Event union a message carries.
type Kind uint16

// The Event union members, numbered as their discriminants on the wire.
const (
	KindInference Kind = 0
	KindLifecycle Kind = 1
	KindClosed    Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindInference:
		return "inference"
	case KindLifecycle:
		return "lifecycle"
	case KindClosed:
		return "closed"
	}
	return "unknown"
}

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
}

// Anonymous reports whether the event carries no emitter id, and so cannot be
// deduplicated, replayed or audited.
func (e *Event) Anonymous() bool { return e.EmitterID == [16]byte{} }

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
}

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
