package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSkipBelow: segments below Options.SkipBelow are never read (damage
// in them is not even noticed), LSNs continue above SkipLSN, and
// RemoveThrough deletes the skipped segments once past SkipLSN.
func TestSkipBelow(t *testing.T) {
	dir, q := t.TempDir(), t.TempDir()
	w, _, _ := openAll(t, dir, Options{})
	commitAll(t, w, sample(3))
	seg, err := w.Rotate()
	if err != nil || seg != 2 {
		t.Fatalf("rotate: segment %d, %v; want 2", seg, err)
	}
	if again, _ := w.Rotate(); again != 2 {
		t.Fatalf("rotating an empty segment started segment %d", again)
	}
	commitAll(t, w, []rec{{4, "four"}, {5, "five"}})
	if got := w.BytesFrom(2); got != w.Size() || got == 0 {
		t.Fatalf("BytesFrom(2) = %d; want the active segment's %d", got, w.Size())
	}
	w.Close()
	// Damage the first segment: a checkpoint covers it.
	first := filepath.Join(dir, segmentName(1))
	if err := os.WriteFile(first, []byte("garbage that is not a record"), 0o644); err != nil {
		t.Fatal(err)
	}
	w2, r, got := openAll(t, dir, Options{Quarantine: q, SkipBelow: 2, SkipLSN: 3})
	if len(got) != 2 || got[0].lsn != 4 || r.TornTails != 0 || len(r.Quarantined) != 0 || r.LastLSN != 5 {
		t.Fatalf("replayed %+v (torn %d, quarantined %d, last %d); want lsn 4 and 5 only, no damage",
			got, r.TornTails, len(r.Quarantined), r.LastLSN)
	}
	if w2.Segments() != 2 {
		t.Fatalf("%d segments; want the skipped one kept until truncated", w2.Segments())
	}
	if n, err := w2.RemoveThrough(3); err != nil || n != 1 {
		t.Fatalf("remove through 3: %d, %v; want the skipped segment removed", n, err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("skipped segment still on disk: %v", err)
	}
}

// TestSkipAll: when the checkpoint covers every segment, the log starts a
// new one and takes LSNs above the checkpoint's.
func TestSkipAll(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openAll(t, dir, Options{})
	commitAll(t, w, sample(3))
	w.Close()
	w2, _, got := openAll(t, dir, Options{SkipBelow: 7, SkipLSN: 9})
	if len(got) != 0 || w2.LastLSN() != 9 {
		t.Fatalf("replayed %d records, last lsn %d; want none, 9", len(got), w2.LastLSN())
	}
	if w2.ActiveSegment() != segmentName(2) {
		t.Fatalf("active segment %s; want a new one after the skipped", w2.ActiveSegment())
	}
	if err := w2.Commit(AppendRecord(nil, 9, nil), 9); err == nil {
		t.Fatal("committed an lsn the checkpoint covers")
	}
	commitAll(t, w2, []rec{{10, "ten"}})
	w2.Close()
	_, _, got = openAll(t, dir, Options{SkipBelow: 2, SkipLSN: 9})
	if len(got) != 1 || got[0].lsn != 10 {
		t.Fatalf("replay: %+v; want lsn 10", got)
	}
	// An empty folder with a checkpoint: the first segment is the one the
	// checkpoint names.
	w3, _, _ := openAll(t, t.TempDir(), Options{SkipBelow: 7, SkipLSN: 9})
	if w3.ActiveSegment() != segmentName(7) {
		t.Fatalf("active segment %s; want %s", w3.ActiveSegment(), segmentName(7))
	}
}
