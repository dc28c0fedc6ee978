package table

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteReadInference(t *testing.T) {
	dir := t.TempDir()
	ws := time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC)
	path := filepath.Join(PartitionDir(dir, ws), "part-1.parquet")
	want := []InferenceRow{
		{WindowStart: ws, WindowSeconds: 60, ModelID: "m1", AccountID: 1<<63 + 5, RequestSource: "worker", Requests: 3, Neurons: 1.25, RequestTimeMsSketch: []byte{1, 2}},
		{WindowStart: ws, WindowSeconds: 60, ModelID: "m2", Errors: 1, Requests: 1},
	}
	if err := WriteInference(path, want); err != nil {
		t.Fatal(err)
	}
	if got, wantDir := filepath.Dir(path), filepath.Join(dir, "inference", "date=2026-11-27", "hour=13"); got != wantDir {
		t.Fatalf("unexpected partition; got %s; want %s", got, wantDir)
	}
	got, err := ReadInference(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("unexpected rows; got %d; want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].WindowStart.Equal(want[i].WindowStart) || got[i].ModelID != want[i].ModelID ||
			got[i].AccountID != want[i].AccountID || got[i].Requests != want[i].Requests ||
			got[i].Neurons != want[i].Neurons || string(got[i].RequestTimeMsSketch) != string(want[i].RequestTimeMsSketch) {
			t.Fatalf("row %d: got %+v; want %+v", i, got[i], want[i])
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteAuditReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), AuditDir, "collector.parquet")
	for _, n := range []int64{5, 7} {
		if err := WriteAudit(path, []AuditRow{{EmitterID: "e", LastSeq: n, Received: n}}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := ReadAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].LastSeq != 7 || rows[0].Unexplained() != 0 {
		t.Fatalf("unexpected audit rows; got %+v", rows)
	}
}
