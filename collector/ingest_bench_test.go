package collector

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// BenchmarkIngestHTTP measures the collector as a forwarder sees it: 4
// concurrent posters send zstd batches of 4,096 realistic events (thousands
// of keys, 1% late for windows already written) over real HTTP, each
// waiting for its 200 (WAL fsynced, applied) before the next, with windows
// flushed every 100 ms. It reports events/s, the collector's CPU per event
// (the posters' share included: encoding is done before the timer) and the
// 99th percentile request latency, which shows ingest stalls behind
// flushes.
//
//	go test -run XXX -bench IngestHTTP -benchtime 400x ./collector/
func BenchmarkIngestHTTP(b *testing.B) {
	const posters, perBatch, late = 4, 4096, 0.01
	now := time.Now()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir, cfg.FlushInterval = "127.0.0.1:0", b.TempDir(), b.TempDir(), 100*time.Millisecond
	c, err := Open(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	srv := newServer(c)
	defer func() {
		srv.Close()
		if err := c.Shutdown(b.Context()); err != nil {
			b.Fatal(err)
		}
	}()

	// Bodies are made before the timer: b.N batches, each of a distinct
	// emitter seq range so that nothing is a duplicate.
	r := rand.New(rand.NewSource(1))
	bodies := make([][]byte, b.N)
	for i := range bodies {
		var id [16]byte
		id[0], id[1] = byte(i%posters+1), 0x42
		evs := make([]wire.Event, perBatch)
		for j := range evs {
			ts := now.Add(-time.Duration(r.Int63n(int64(30 * time.Second))))
			if r.Float64() < late {
				ts = now.Add(-time.Duration(5+r.Intn(20)) * time.Minute)
			}
			evs[j] = genEvent(r, id, uint64(i/posters*perBatch+j+1), 0, ts)
			evs[j].Inference.AccountID = uint64(r.Intn(150))
		}
		var frames []byte
		for j := range evs {
			frames = wire.AppendEvent(frames, &evs[j])
		}
		body, err := wire.EncodeBatch(&wire.Batch{ForwarderID: [16]byte{0xbe}, BatchSeq: uint64(i + 1), CreatedNs: 1,
			EventCount: perBatch, Events: frames})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = zstdBytes(b, body)
	}
	lat := make([]time.Duration, b.N)
	var next sync.Mutex
	n := 0
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{}
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+BatchPath, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", ContentType)
				req.Header.Set("Content-Encoding", "zstd")
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				lat[i] = time.Since(start)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("batch %d: status %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	total := float64(b.N * perBatch)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(total/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/event")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	if testing.Verbose() {
		fmt.Printf("files flushed: %v\n", value(b, c.m.filesWritten))
	}
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
