package collector

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/wire"
)

// benchState is an aggregator with groups keys in one window, each having
// seen 10 events, and a ledger of 8 emitters.
func benchState(groups int) (*window.Aggregator, *ledger.Ledger) {
	r := rand.New(rand.NewSource(1))
	a := window.New(window.Config{Width: time.Minute, MaxGroups: 2 * groups, MaxModels: 1000})
	models := make([]string, 50)
	for i := range models {
		models[i] = fmt.Sprintf("@cf/vendor/model-%02d-instruct", i)
	}
	l := ledger.New()
	ts := testBase.UnixNano()
	for i := 0; i < 10*groups; i++ {
		k := i % groups
		v := wire.Inference{ModelID: models[k%50], AccountID: uint64(k / 50), ColoID: uint32(k % 7), Backend: "vllm",
			RequestSource: wire.SourceWorker, RequestTimeUs: uint64(1000 + r.Intn(100000)),
			InferenceTimeUs: uint64(r.Intn(50000)), QueuingTimeUs: uint64(r.Intn(1000)), Streamed: i%2 == 0,
			TimeToFirstTokenUs: uint64(r.Intn(3000)), Neurons: 3.25, InputTokens: 100, OutputTokens: 200}
		a.Add(&v, ts, v.Neurons)
		l.Accept([16]byte{byte(i % 8)}, uint64(i/8+1), 0, ledger.Arrival{WallNs: ts, IngestNs: ts})
	}
	return a, l
}

// BenchmarkCheckpoint measures a checkpoint of one open window: encoding,
// which the ingest loop does while it takes no batches; the checksum, which
// the flusher adds; and a restart from it (Open: read, check, decode, open
// the WAL).
func BenchmarkCheckpoint(b *testing.B) {
	for _, groups := range []int{10000, 100000} {
		a, l := benchState(groups)
		ws := a.Closable(0, 0, true)
		enc := appendCheckpointBody(nil, 1, 1, 1, 0, l, ws, newPresences())
		name := fmt.Sprintf("%dk-groups", groups/1000)
		b.Run("encode/"+name, func(b *testing.B) {
			buf := make([]byte, 0, len(enc)+4)
			for i := 0; i < b.N; i++ {
				buf = appendCheckpointBody(buf[:0], 1, 1, 1, 0, l, a.Closable(0, 0, true), newPresences())
			}
			b.ReportMetric(float64(len(buf)), "bytes")
		})
		b.Run("checksum/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				finishCheckpoint(enc[:len(enc):len(enc)])
			}
		})
		b.Run("open/"+name, func(b *testing.B) {
			data := b.TempDir()
			if err := os.WriteFile(filepath.Join(data, checkpointName(1)), finishCheckpoint(enc), 0o644); err != nil {
				b.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Listen, cfg.DataDir, cfg.OutDir, cfg.MaxGroups = "127.0.0.1:0", data, b.TempDir(), 2*groups
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := Open(cfg, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if c.agg.Groups() != groups {
					b.Fatalf("restored %d groups; want %d", c.agg.Groups(), groups)
				}
				c.wal.Close()
			}
		})
	}
}
