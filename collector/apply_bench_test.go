package collector

import (
	"testing"
	"time"

	"github.com/readout-dev/readout/bench"
	"github.com/readout-dev/readout/wire"
)

// BenchmarkApplyRecords measures the ingest loop's work after the fsync:
// parsing WAL records of 4,096 realistic events (bench.Generator: skewed
// models, accounts and colos, tens of thousands of keys per minute) and
// folding each event into the ledger and its window. It is the stage a CPU
// profile of the whole pipeline shows as the collector's largest.
//
//	go test -run XXX -bench ApplyRecords -benchtime 1000000x ./collector/
func BenchmarkApplyRecords(b *testing.B) {
	const perRecord = 4096
	now := time.Now()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir, cfg.Now = "127.0.0.1:0", b.TempDir(), b.TempDir(), func() time.Time { return now }
	c, err := Open(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.wal.Close()
	g := bench.NewGenerator(bench.Emitters(4, 1), 1, now)
	var ev wire.Event
	var records [][]byte
	for n := 0; n < b.N; n += perRecord {
		frames := make([][]byte, 0, perRecord)
		for range min(perRecord, b.N-n) {
			g.Next(&ev)
			frames = append(frames, wire.AppendEvent(nil, &ev))
		}
		h := recordHeader{batchSeq: uint64(len(records) + 1), arrivalNs: now.UnixNano()}
		records = append(records, appendRecordPayload(nil, &h, frames))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i, r := range records {
		c.applyRecord(uint64(i+1), r, true)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(c.agg.Groups()), "groups")
}
