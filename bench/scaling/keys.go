package scaling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
	"time"

	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/wire"
)

// KeysPoint is the collector's decode-and-aggregate at one number of
// active aggregation keys, measured in this process.
type KeysPoint struct {
	Keys            int     `json:"keys"`
	Events          int     `json:"events"`
	WallSeconds     float64 `json:"wall_seconds"`
	EventsPerSec    float64 `json:"events_per_second"`
	EventsPerCPUSec float64 `json:"events_per_cpu_second"`
	HeapBytesPerKey float64 `json:"heap_bytes_per_key"`
	HeapMiB         float64 `json:"heap_mib"` // the aggregator's live heap
	Error           string  `json:"error,omitempty"`
}

// keyModels is how many model ids the keys spread over; the rest of a key
// is its account and colo, as in collector/window's own benchmarks.
const keyModels = 50

// keyFrames encodes one event per key, in a random order, all in one
// one-minute window.
func keyFrames(keys int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 11))
	models := make([]string, keyModels)
	for i := range models {
		models[i] = fmt.Sprintf("@cf/vendor/model-%02d-instruct", i)
	}
	frames := make([][]byte, keys)
	base := time.Now().Truncate(time.Minute).UnixNano()
	for i, k := range rng.Perm(keys) {
		ev := wire.Event{TimestampNs: base + rng.Int64N(int64(59*time.Second)), EmitterID: [16]byte{1},
			Seq: uint64(i + 1), Kind: wire.KindInference}
		binaryRandom(rng, ev.ID[:])
		ev.Inference = wire.Inference{
			ModelID: models[k%keyModels], AccountID: uint64(k / keyModels), ColoID: uint32(k % 7),
			Backend: "vllm", RequestSource: wire.SourceWorker, RequestTimeUs: uint64(1000 + rng.IntN(100000)),
			InferenceTimeUs: uint64(rng.IntN(50000)), QueuingTimeUs: uint64(rng.IntN(1000)), Streamed: i%2 == 0,
			TimeToFirstTokenUs: uint64(rng.IntN(3000)), Neurons: 3.25, InputTokens: 100, OutputTokens: 200,
		}
		frames[i] = wire.AppendEvent(nil, &ev)
	}
	return frames
}

// durations are 4,093 (a prime, so that they do not line up with the keys)
// sets of request, inference, queuing and first-token times in µs, spread
// over three orders of magnitude.
func durations(seed uint64) [][4]uint64 {
	rng := rand.New(rand.NewPCG(seed, 13))
	d := make([][4]uint64, 4093)
	for i := range d {
		for j := range d[i] {
			d[i][j] = uint64(100 * math.Exp(rng.Float64()*math.Log(1000)))
		}
	}
	return d
}

func binaryRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// FillPerKey is how many events each key gets before the heap is measured
// and the clock starts, so that heap per key is comparable across points.
const FillPerKey = 8

// MeasureKeys creates keys active keys in a fresh aggregator with
// FillPerKey events each (untimed) and measures the heap each key holds
// (sketches included); then it times events more, decoding each frame as
// the collector does and folding it in. The frames cycle in a random
// order, so at many keys the aggregator's maps and sketches miss the CPU
// caches as they would in the collector.
func MeasureKeys(keys, events int, seed uint64) (pt KeysPoint) {
	pt = KeysPoint{Keys: keys, Events: events}
	frames := keyFrames(keys, seed)
	durs := durations(seed)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := window.New(window.Config{Width: time.Minute, MaxGroups: 2 * keys, MaxModels: 1000})
	var ev wire.Event
	fold := func(i int, f []byte) bool {
		if err := wire.DecodeEvent(f, &ev); err != nil {
			pt.Error = fmt.Sprintf("decode: %v", err)
			return false
		}
		// Each key has one frame; varied durations give its sketches the
		// spread of values real traffic has, as the collector's would.
		d := &durs[i%len(durs)]
		in := &ev.Inference
		in.RequestTimeUs, in.InferenceTimeUs, in.QueuingTimeUs, in.TimeToFirstTokenUs = d[0], d[1], d[2], d[3]
		a.Add(in, ev.TimestampNs, in.Neurons)
		return true
	}
	for r := range FillPerKey {
		for i, f := range frames {
			if !fold(r*keys+i, f) {
				return pt
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	pt.HeapBytesPerKey = live / float64(keys)
	pt.HeapMiB = live / (1 << 20)
	cpu0 := cpuSeconds()
	start := time.Now()
	for i := range events {
		if !fold(FillPerKey*keys+i, frames[i%len(frames)]) {
			return pt
		}
	}
	pt.WallSeconds = time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if a.Groups() != keys {
		pt.Error = fmt.Sprintf("got %d groups; want %d", a.Groups(), keys)
		return pt
	}
	if pt.WallSeconds > 0 {
		pt.EventsPerSec = float64(events) / pt.WallSeconds
	}
	if cpu > 0 {
		pt.EventsPerCPUSec = float64(events) / cpu
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(frames)
	return pt
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
