package query

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/internal/parquetcheck"
	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

// benchDataset writes rows partial rows: one-minute windows over four hours,
// keysPerWindow keys each, every row with four sketches of 20 values, four
// files per hour partition.
func benchDataset(b *testing.B, rows, keysPerWindow int) string {
	b.Helper()
	out := b.TempDir()
	base := time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
	s := sketch.New()
	for i := range 20 {
		s.Add(float64(i*i) + 0.5)
	}
	enc := s.AppendBinary(nil)
	files := make(map[string][]table.InferenceRow)
	for i := range rows {
		ws := base.Add(time.Duration(i/keysPerWindow%240) * time.Minute)
		k := i % keysPerWindow
		path := filepath.Join(table.PartitionDir(out, ws), fmt.Sprintf("part-%d.parquet", i%4))
		files[path] = append(files[path], table.InferenceRow{
			WindowStart: ws, WindowSeconds: 60, ModelID: testModels[k%len(testModels)], AccountID: uint64(k),
			ColoID: uint32(k % 7), RequestSource: testSources[k%len(testSources)], Backend: "vllm",
			Requests: 20, Streamed: 20, Neurons: 1.5, InputTokens: 100, OutputTokens: 50,
			RequestTimeMsSum: 2000, RequestTimeMsSketch: enc, InferenceTimeMsSum: 2000, InferenceTimeMsSketch: enc,
			QueuingTimeMsSum: 2000, QueuingTimeMsSketch: enc, TTFTMsSum: 2000, TTFTMsSketch: enc,
		})
	}
	for path, rs := range files {
		if err := table.WriteInference(path, rs); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkRun measures a query end to end: listing, reading, decoding and
// merging rows (sketches included) and sorting the groups.
func BenchmarkRun(b *testing.B) {
	const rows = 100_000
	out := benchDataset(b, rows, 400)
	for _, bc := range []struct {
		name    string
		groupBy []string
		bucket  time.Duration
	}{
		{"total", nil, 0},
		{"by_model", []string{"model_id"}, 0},
		{"by_account_per_hour", []string{"account_id"}, time.Hour},
		{"every_dimension_per_minute", table.Dimensions, time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := Run(Options{Dir: out, GroupBy: bc.groupBy, Bucket: bc.bucket})
				if err != nil {
					b.Fatal(err)
				}
				if res.RowsRead != rows {
					b.Fatalf("unexpected rows read; got %d; want %d", res.RowsRead, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkReadFile compares, per file of the BenchmarkRun dataset,
// parquet-go opening a file ("open"), parquetcheck.Open's safety check and
// open ("check"), and reading the file's rows ("read", check included): the
// check costs "check" minus "open".
func BenchmarkReadFile(b *testing.B) {
	out := benchDataset(b, 100_000, 400)
	files, err := partitionFiles(table.Inference, out, time.Time{}, time.Time{}, zap.NewNop())
	if err != nil || len(files) == 0 {
		b.Fatalf("no files: %v", err)
	}
	for _, bc := range []struct {
		name string
		open func(r io.ReaderAt, size int64) error
	}{
		{"open", func(r io.ReaderAt, size int64) error {
			_, err := parquet.OpenFile(r, size)
			return err
		}},
		{"check", func(r io.ReaderAt, size int64) error {
			_, err := parquetcheck.Open(r, size)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, path := range files {
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					st, _ := f.Stat()
					if err := bc.open(f, st.Size()); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(files)), "ns/file")
		})
	}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, path := range files {
				if err := eachRow(path, func([]inferenceColumns) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(files)), "ns/file")
	})
}
