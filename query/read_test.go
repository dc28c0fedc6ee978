package query

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/readout-dev/readout/table"
)

// FuzzReadInference feeds arbitrary bytes to the file reader and merger, as
// a damaged or foreign file under OUT would: they must answer with an error
// naming the file, never a panic.
func FuzzReadInference(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.parquet")
	if err := table.WriteInference(good, []table.InferenceRow{partialRow(genEvents(9, 3)[:1]), partialRow(genEvents(10, 1))}); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[len(valid)/3:])
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)/2] ^= 0xff
	f.Add(flipped)
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "x.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m := newMerger(&Options{GroupBy: []string{"model_id"}, Bucket: 60e9}, nil)
		err := eachRow(path, func(rows []inferenceColumns) error { return m.add(path, rows) })
		var ce *CorruptError
		if err != nil && (!errors.As(err, &ce) || ce.Path != path) {
			t.Fatalf("unexpected error; got %v; want a CorruptError naming %s", err, path)
		}
		m.result([]string{"model_id"})
	})
}
