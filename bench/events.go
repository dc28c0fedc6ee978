// Package bench holds what readout's benchmarks share: a generator of
// realistic inference events and the JSON form a classic log shipper would
// carry them in, so that Cap'n Proto and JSON are compared on the same events.
package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/readout-dev/readout/wire"
)

// Catalogues the generator draws from; a skewed pick from each gives the mix
// of a real fleet (a few hot models and accounts, a long tail).
var (
	models = []string{
		"@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
		"@cf/mistral/mistral-7b-instruct-v0.2", "@cf/qwen/qwen2.5-coder-32b-instruct",
		"@cf/google/gemma-3-12b-it", "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-m3",
		"@cf/openai/whisper-large-v3-turbo", "@cf/black-forest-labs/flux-1-schnell",
		"@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", "@cf/microsoft/resnet-50",
		"@cf/huggingface/distilbert-sst-2-int8", "@cf/meta/llama-guard-3-8b",
		"@cf/meta/m2m100-1.2b", "@cf/facebook/bart-large-cnn", "@cf/meta/llama-4-scout-17b-16e-instruct",
	}
	backends = []string{"triton", "tgi", "vllm", "tensorrt-llm"}
	sources  = []wire.RequestSource{wire.SourceWorker, wire.SourceWorker, wire.SourceRESTAPI, wire.SourcePages, wire.SourceUnknown}
)

// Emitters returns n distinct emitter ids derived from seed.
func Emitters(n int, seed uint64) [][16]byte {
	ids := make([][16]byte, n)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], seed^0x9e3779b97f4a7c15)
		binary.BigEndian.PutUint64(ids[i][8:], uint64(i+1))
		ids[i][6] = 0x40 | ids[i][6]&0x0f // UUID version 4
		ids[i][8] = 0x80 | ids[i][8]&0x3f // RFC 4122 variant
	}
	return ids
}

// Events returns n inference events spread round-robin over the emitters,
// each emitter numbering its own events 1, 2, 3, ... as the emitter library
// does. Event times fall in the minute before now; the same seed and now give
// the same events.
func Events(n int, emitters [][16]byte, seed uint64, now time.Time) []wire.Event {
	g := NewGenerator(emitters, seed, now)
	evs := make([]wire.Event, n)
	for i := range evs {
		g.Next(&evs[i])
	}
	return evs
}

// Generator makes the events Events returns one at a time, so that a large
// run need not hold them all.
type Generator struct {
	rng      *rand.Rand
	emitters [][16]byte
	seqs     []uint64
	base     int64
	next     int
}

// NewGenerator starts the sequence Events(n, emitters, seed, now) returns.
func NewGenerator(emitters [][16]byte, seed uint64, now time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed+1)), emitters: emitters,
		seqs: make([]uint64, len(emitters)), base: now.Add(-time.Minute).UnixNano()}
}

// Next overwrites ev with the next event and returns its emitter's index.
func (g *Generator) Next(ev *wire.Event) int {
	e := g.next % len(g.emitters)
	g.next++
	g.seqs[e]++
	ts := g.base + g.rng.Int64N(int64(time.Minute))
	*ev = wire.Event{TimestampNs: ts, EmitterID: g.emitters[e], Seq: g.seqs[e], Kind: wire.KindInference}
	uuidV7(&ev.ID, ts, g.rng)
	fillInference(&ev.Inference, g.rng)
	return e
}

// uuidV7 writes a UUIDv7 for the event time ts with random low bits.
func uuidV7(id *[16]byte, ts int64, rng *rand.Rand) {
	ms := uint64(ts / int64(time.Millisecond))
	binary.BigEndian.PutUint64(id[:8], ms<<16|rng.Uint64()&0xffff)
	binary.BigEndian.PutUint64(id[8:], rng.Uint64())
	id[6] = 0x70 | id[6]&0x0f
	id[8] = 0x80 | id[8]&0x3f
}

// skewed picks an index in [0, n) with small indexes far more likely.
func skewed(rng *rand.Rand, n int) int {
	f := rng.Float64()
	return int(f * f * f * float64(n))
}

func fillInference(v *wire.Inference, rng *rand.Rand) {
	m := skewed(rng, len(models))
	streamed := rng.IntN(3) == 0
	in := uint32(20 + rng.IntN(2000))
	out := uint32(rng.IntN(800))
	queuing := uint64(rng.IntN(20_000))
	infer := uint64(5_000 + rng.IntN(2_000_000))
	*v = wire.Inference{
		AccountID:        uint64(1_000_000 + skewed(rng, 5000)),
		ModelID:          models[m],
		QueuingTimeUs:    queuing,
		InferenceTimeUs:  infer,
		RequestTimeUs:    queuing + infer + uint64(rng.IntN(3_000)),
		Neurons:          float64(in)*0.011 + float64(out)*0.18,
		HTTPStatus:       200,
		ColoID:           uint32(1 + skewed(rng, 300)),
		SourceColoID:     uint32(1 + skewed(rng, 300)),
		LocalQueueSize:   uint32(rng.IntN(16)),
		ModelContainerID: fmt.Sprintf("mc-%02d-%06x", m, rng.IntN(1<<20)),
		RequestSource:    sources[rng.IntN(len(sources))],
		Streamed:         streamed,
		Beta:             m%5 == 4,
		QueuedInColo:     queuing > 10_000,
		Backend:          backends[m%len(backends)],
		InputTokens:      in,
		OutputTokens:     out,
	}
	if streamed {
		v.TimeToFirstTokenUs = queuing + uint64(rng.IntN(400_000))
	}
	if rng.IntN(100) == 0 {
		v.ErrorCode, v.HTTPStatus = uint32(3000+rng.IntN(50)), 500
	}
}

// JSONEvent is an inference event as one line of JSON, the way an inference
// server would hand it to a generic log shipper: snake_case keys (those of
// `readout query`), ids as UUID strings.
type JSONEvent struct {
	ID                 string  `json:"id"`
	TimestampNs        int64   `json:"timestamp_ns"`
	EmitterID          string  `json:"emitter_id"`
	Seq                uint64  `json:"seq"`
	DroppedTotal       uint64  `json:"dropped_total"`
	AccountID          uint64  `json:"account_id"`
	ModelID            string  `json:"model_id"`
	RequestTimeUs      uint64  `json:"request_time_us"`
	InferenceTimeUs    uint64  `json:"inference_time_us"`
	QueuingTimeUs      uint64  `json:"queuing_time_us"`
	TimeToFirstTokenUs uint64  `json:"time_to_first_token_us"`
	Neurons            float64 `json:"neurons"`
	ErrorCode          uint32  `json:"error_code"`
	HTTPStatus         uint16  `json:"http_status"`
	ColoID             uint32  `json:"colo_id"`
	SourceColoID       uint32  `json:"source_colo_id"`
	LocalQueueSize     uint32  `json:"local_queue_size"`
	ModelContainerID   string  `json:"model_container_id"`
	RequestSource      string  `json:"request_source"`
	Streamed           bool    `json:"streamed"`
	Beta               bool    `json:"beta"`
	ExternalEndpoint   bool    `json:"external_endpoint"`
	QueuedInColo       bool    `json:"queued_in_colo"`
	UnixSocket         bool    `json:"unix_socket"`
	Backend            string  `json:"backend"`
	InputTokens        uint32  `json:"input_tokens"`
	OutputTokens       uint32  `json:"output_tokens"`
}

// ToJSON converts an inference event to its JSON form.
func ToJSON(ev *wire.Event) JSONEvent {
	v := &ev.Inference
	return JSONEvent{
		ID: uuidString(ev.ID), TimestampNs: ev.TimestampNs, EmitterID: uuidString(ev.EmitterID),
		Seq: ev.Seq, DroppedTotal: ev.DroppedTotal,
		AccountID: v.AccountID, ModelID: v.ModelID, RequestTimeUs: v.RequestTimeUs,
		InferenceTimeUs: v.InferenceTimeUs, QueuingTimeUs: v.QueuingTimeUs,
		TimeToFirstTokenUs: v.TimeToFirstTokenUs, Neurons: v.Neurons, ErrorCode: v.ErrorCode,
		HTTPStatus: v.HTTPStatus, ColoID: v.ColoID, SourceColoID: v.SourceColoID,
		LocalQueueSize: v.LocalQueueSize, ModelContainerID: v.ModelContainerID,
		RequestSource: v.RequestSource.String(), Streamed: v.Streamed, Beta: v.Beta,
		ExternalEndpoint: v.ExternalEndpoint, QueuedInColo: v.QueuedInColo, UnixSocket: v.UnixSocket,
		Backend: v.Backend, InputTokens: v.InputTokens, OutputTokens: v.OutputTokens,
	}
}

// jsonEncoder is an encoding/json Encoder with the buffer it writes to,
// reused so that encoding a line allocates next to nothing.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// AppendJSONLine appends ev as one line of JSON, newline included, as
// encoding/json writes it (json.Marshal's bytes and a newline).
func AppendJSONLine(dst []byte, ev *wire.Event) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer jsonEncoders.Put(e)
	e.buf.Reset()
	v := ToJSON(ev)
	if err := e.enc.Encode(&v); err != nil {
		return dst, fmt.Errorf("marshal event %d: %w", ev.Seq, err)
	}
	return append(dst, e.buf.Bytes()...), nil
}

func uuidString(id [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}
