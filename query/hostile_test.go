package query

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
)

// corpusInput reads the []byte of a one-argument fuzz corpus file.
func corpusInput(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s is not a one-input fuzz corpus file", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// TestRunHostileFile: a 10 KiB file in which one bit turned a column's codec
// from ZSTD into LZ4_RAW made parquet-go's LZ4 decoder double its buffer
// until the process died (8 GB resident, 32 GiB asked). The query must now
// fail with an error naming the file, having allocated little.
func TestRunHostileFile(t *testing.T) {
	hostile := corpusInput(t, filepath.Join("testdata", "fuzz", "FuzzReadInference", "lz4-codec-flip-oom"))
	out := t.TempDir()
	ws := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	dir := table.PartitionDir(out, ws)
	if err := table.WriteInference(filepath.Join(dir, "a.parquet"), []table.InferenceRow{partialRow(genEvents(1, 5))}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "b.parquet")
	if err := os.WriteFile(bad, hostile, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Run(Options{Dir: out, GroupBy: []string{"model_id"}, Workers: 1})
	runtime.ReadMemStats(&after)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != bad {
		t.Fatalf("unexpected error; got %v; want a CorruptError naming %s", err, bad)
	}
	if msg := err.Error(); !strings.Contains(msg, "corrupt file "+bad) || !strings.Contains(msg, "LZ4_RAW") || strings.Contains(msg, "\n") {
		t.Fatalf("unexpected message %q", msg)
	}
	// Reading the good file and refusing the bad one takes about 1 MiB.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB in all", alloc>>10)
	if alloc > 16<<20 {
		t.Fatalf("the query allocated %d MiB; want under 16", alloc>>20)
	}
}
