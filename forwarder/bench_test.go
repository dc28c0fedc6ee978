package forwarder

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/readout-dev/readout/wire"
)

// BenchmarkIngest measures events per second from 4 concurrent emitter
// connections (real Unix sockets) until they are durable in the spool on
// disk, and the spool bytes written per event. The collector is down so
// that shipping does not compete for the CPU.
//
//	go test -run XXX -bench Ingest -benchtime 2000000x ./forwarder/
func BenchmarkIngest(b *testing.B) {
	for _, comp := range []string{"s2", "none"} {
		b.Run("spool-compression="+comp, func(b *testing.B) { benchmarkIngest(b, comp, 1<<20) })
	}
}

// BenchmarkIngestBatchBytes justifies the --batch-max-bytes default:
// throughput climbs with batch size while fsyncs and per-record costs
// dominate, and flattens by 1 MiB; larger batches only add latency and
// memory. (Under saturation batches fill by bytes long before the linger
// time, so --batch-linger only matters at low rates, where it bounds ack
// latency.)
func BenchmarkIngestBatchBytes(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("batch-max-bytes=%dKiB", size>>10), func(b *testing.B) { benchmarkIngest(b, "s2", size) })
	}
}

func benchmarkIngest(b *testing.B, compression string, batchBytes int) {
	col := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv := newHTTPServer(b, col)
	cfg := DefaultConfig()
	cfg.Socket = shortDir(b) + "/f.sock"
	cfg.Spool = b.TempDir()
	if d := os.Getenv("FWD_BENCH_SPOOL"); d != "" {
		cfg.Spool = d
	}
	cfg.Collector = srv
	cfg.SpoolMaxBytes = 16 << 30
	cfg.SpoolCompress = compression
	cfg.BatchMaxBytes = batchBytes
	cfg.RetryMin, cfg.RetryMax = time.Hour, time.Hour
	cfg.DrainTimeout = time.Second
	f, err := New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := contextWithCancel()
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// A block of varied, realistic events per connection (random ids,
	// spread numbers, a few models), written over and over. The block is
	// larger than a batch, so the spool's compression sees no repeats.
	const conns, block = 4, 8192
	models := []string{"@cf/meta/llama-3.1-8b-instruct", "@cf/mistral/mistral-7b-instruct-v0.2", "@cf/baai/bge-base-en-v1.5", "@cf/openai/whisper"}
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := make([][]byte, conns)
	for c := range conns {
		for i := range block {
			ev := wire.Event{TimestampNs: time.Now().UnixNano() + int64(rng.IntN(1e9)), EmitterID: [16]byte{byte(c + 1), 9},
				Seq: uint64(i + 1), Kind: wire.KindInference, Inference: wire.Inference{AccountID: rng.Uint64N(100000),
					ModelID: models[rng.IntN(len(models))], RequestTimeUs: rng.Uint64N(200000), InferenceTimeUs: rng.Uint64N(150000),
					QueuingTimeUs: rng.Uint64N(1000), Neurons: rng.Float64() * 100, HTTPStatus: 200, ColoID: uint32(rng.IntN(300)),
					SourceColoID: uint32(rng.IntN(300)), ModelContainerID: fmt.Sprintf("container-%04x", rng.IntN(1<<16)),
					RequestSource: wire.SourceWorker, Streamed: rng.IntN(2) == 0, Backend: "vllm",
					InputTokens: uint32(rng.IntN(4000)), OutputTokens: uint32(rng.IntN(2000))}}
			for j := range ev.ID {
				ev.ID[j] = byte(rng.Uint32())
			}
			fr, err := wire.EncodeEventCapnp(&ev)
			if err != nil {
				b.Fatal(err)
			}
			blocks[c] = append(blocks[c], fr...)
		}
	}
	perConn := (b.N + conns - 1) / conns
	total := perConn * conns
	var cs []net.Conn
	for range conns {
		c, err := net.Dial("unix", cfg.Socket)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	start := f.sp.Stats().Bytes
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left := perConn; left > 0; left -= block {
				buf := blocks[i]
				if left < block {
					buf = sliceFrames(buf, left)
				}
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for counterValue(f.m.eventsSpooled) < float64(total) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	// CPU per event (forwarder and the in-process writers together) is
	// steadier than events/s on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/event")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(f.sp.Stats().Bytes-start)/float64(total), "spool-bytes/event")
	b.ReportMetric(float64(len(blocks[0]))/block, "frame-bytes/event")
}

// sliceFrames returns the first n frames of buf.
func sliceFrames(buf []byte, n int) []byte {
	off := 0
	for range n {
		size, _ := wire.FrameSize(buf[off:], wire.DefaultMaxMessageSize)
		off += size
	}
	return buf[:off]
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
