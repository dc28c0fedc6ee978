package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/readout-dev/readout/wire"
)

// model describes one simulated model: its traffic share and the shape of
// its requests. Latencies are log-normal (mu, sigma of ln microseconds), so
// their tails are long.
type model struct {
	id         string
	weight     int
	chat       bool    // streams tokens, with a time to first token
	beta       bool    // not billed the same way
	backend    string  // serving backend
	inMu       float64 // ln of median input tokens (0: the model counts none)
	inSigma    float64
	outMu      float64 // ln of median output tokens (0: it generates none)
	outSigma   float64
	latMu      float64 // ln of median inference time, microseconds
	latSigma   float64
	neuronsIn  float64 // neurons per input token
	neuronsOut float64 // neurons per output token
	neuronsReq float64 // neurons per request (models without tokens)
	containers []string
}

var models = []model{
	{id: "@cf/meta/llama-3.1-8b-instruct", weight: 32, chat: true, backend: "vllm",
		inMu: math.Log(400), inSigma: 0.9, outMu: math.Log(180), outSigma: 0.8,
		latMu: math.Log(900_000), latSigma: 0.7, neuronsIn: 0.025, neuronsOut: 0.075},
	{id: "@cf/mistral/mistral-7b-instruct-v0.2", weight: 12, chat: true, backend: "tgi",
		inMu: math.Log(300), inSigma: 0.8, outMu: math.Log(150), outSigma: 0.8,
		latMu: math.Log(800_000), latSigma: 0.75, neuronsIn: 0.02, neuronsOut: 0.07},
	{id: "@cf/meta/llama-3.3-70b-instruct-fp8-fast", weight: 8, chat: true, beta: true, backend: "vllm",
		inMu: math.Log(800), inSigma: 1.0, outMu: math.Log(300), outSigma: 0.9,
		latMu: math.Log(2_500_000), latSigma: 0.8, neuronsIn: 0.26, neuronsOut: 2.0},
	{id: "@cf/baai/bge-base-en-v1.5", weight: 30, backend: "triton",
		inMu: math.Log(120), inSigma: 0.7, latMu: math.Log(25_000), latSigma: 0.5, neuronsIn: 0.0061},
	{id: "@cf/openai/whisper", weight: 13, backend: "triton",
		latMu: math.Log(1_800_000), latSigma: 0.9, neuronsReq: 41.14},
	{id: "@cf/stabilityai/stable-diffusion-xl-base-1.0", weight: 5, beta: true, backend: "triton",
		latMu: math.Log(4_000_000), latSigma: 0.4, neuronsReq: 0},
}

func init() {
	for i := range models {
		for k := 1; k <= 4; k++ {
			models[i].containers = append(models[i].containers, models[i].backend+"-"+strconv.Itoa(i)+"-"+strconv.Itoa(k))
		}
	}
}

// failure is an error a request can end with.
type failure struct {
	code   uint32
	status uint16
	weight int
}

var failures = []failure{
	{3040, 429, 40}, // out of capacity
	{3036, 429, 15}, // account rate limited
	{3043, 500, 20}, // internal error
	{5007, 400, 15}, // bad input
	{3007, 504, 10}, // timed out
}

var (
	colos   = []uint32{11, 22, 31, 45, 57, 68, 79, 83, 94, 102}
	sources = []struct {
		s      wire.RequestSource
		weight int
	}{{wire.SourceWorker, 60}, {wire.SourceRESTAPI, 30}, {wire.SourcePages, 8}, {wire.SourceUnknown, 2}}
)

// generator makes one emitter's event stream; it is a pure function of its
// seed, so a run is reproducible. It allocates nothing per event.
type generator struct {
	r            *rand.Rand
	accounts     *rand.Zipf
	homeColo     uint32
	errorRate    float64
	lateFraction float64
	modelCum     []int
	failCum      []int
	sourceCum    []int
}

func newGenerator(seed uint64, emitter int, accounts int, errorRate, lateFraction float64) *generator {
	r := rand.New(rand.NewPCG(seed, uint64(emitter)+0x9e3779b97f4a7c15))
	g := &generator{
		r:            r,
		accounts:     rand.NewZipf(r, 1.15, 4, uint64(accounts-1)),
		homeColo:     colos[emitter%len(colos)],
		errorRate:    errorRate,
		lateFraction: lateFraction,
	}
	for _, m := range models {
		g.modelCum = appendCum(g.modelCum, m.weight)
	}
	for _, f := range failures {
		g.failCum = appendCum(g.failCum, f.weight)
	}
	for _, s := range sources {
		g.sourceCum = appendCum(g.sourceCum, s.weight)
	}
	return g
}

func appendCum(cum []int, w int) []int {
	if n := len(cum); n > 0 {
		w += cum[n-1]
	}
	return append(cum, w)
}

func (g *generator) pick(cum []int) int {
	x := g.r.IntN(cum[len(cum)-1])
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

func (g *generator) lognormal(mu, sigma float64) float64 {
	return math.Exp(mu + sigma*g.r.NormFloat64())
}

// next fills ev with the next request and returns its model index and how
// far in the past it started (0 for most; minutes for a late event).
func (g *generator) next(ev *wire.Inference) (int, time.Duration) {
	mi := g.pick(g.modelCum)
	m := &models[mi]
	*ev = wire.Inference{
		AccountID:        1000 + g.accounts.Uint64()*7919,
		ModelID:          m.id,
		ColoID:           g.homeColo,
		SourceColoID:     g.homeColo,
		ModelContainerID: m.containers[g.r.IntN(len(m.containers))],
		RequestSource:    sources[g.pick(g.sourceCum)].s,
		Beta:             m.beta,
		UnixSocket:       g.r.IntN(2) == 0,
		Backend:          m.backend,
		HTTPStatus:       200,
	}
	if g.r.Float64() < 0.12 { // forwarded from another colo
		ev.SourceColoID = colos[g.r.IntN(len(colos))]
	}
	ev.QueuedInColo = g.r.Float64() < 0.05
	ev.ExternalEndpoint = g.r.Float64() < 0.01
	// Local queue: usually empty, sometimes a few deep.
	for ev.LocalQueueSize < 32 && g.r.Float64() < 0.45 {
		ev.LocalQueueSize++
	}
	if ev.LocalQueueSize > 0 {
		ev.QueuingTimeUs = uint64(float64(ev.LocalQueueSize) * g.lognormal(m.latMu-1.5, 0.6))
	}
	if m.inMu > 0 {
		ev.InputTokens = uint32(1 + g.lognormal(m.inMu, m.inSigma))
	}
	failed := g.r.Float64() < g.errorRate
	if failed {
		f := failures[g.pick(g.failCum)]
		ev.ErrorCode, ev.HTTPStatus = f.code, f.status
		if f.status != 500 && f.status != 504 {
			ev.InputTokens = 0 // rejected before the model saw it
		} else {
			ev.InferenceTimeUs = uint64(g.lognormal(m.latMu, m.latSigma) / 2)
		}
	} else {
		ev.InferenceTimeUs = uint64(g.lognormal(m.latMu, m.latSigma))
		if m.outMu > 0 {
			ev.OutputTokens = uint32(1 + g.lognormal(m.outMu, m.outSigma))
		}
		if m.chat && g.r.Float64() < 0.8 {
			ev.Streamed = true
			ev.TimeToFirstTokenUs = ev.QueuingTimeUs + uint64(float64(ev.InferenceTimeUs)*(0.05+0.15*g.r.Float64()))
		}
		ev.Neurons = m.neuronsIn*float64(ev.InputTokens) + m.neuronsOut*float64(ev.OutputTokens) + m.neuronsReq
	}
	ev.RequestTimeUs = ev.QueuingTimeUs + ev.InferenceTimeUs + uint64(g.lognormal(math.Log(3000), 0.8))
	var late time.Duration
	if g.lateFraction > 0 && g.r.Float64() < g.lateFraction {
		late = 2*time.Minute + time.Duration(g.r.Int64N(int64(8*time.Minute)))
	}
	return mi, late
}
