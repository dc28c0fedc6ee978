package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rec struct {
	lsn     uint64
	payload string
}

func commitAll(t *testing.T, w *WAL, recs []rec) {
	t.Helper()
	for _, r := range recs {
		if err := w.Commit(AppendRecord(nil, r.lsn, []byte(r.payload)), r.lsn); err != nil {
			t.Fatalf("commit %d: %v", r.lsn, err)
		}
	}
}

func openAll(t *testing.T, dir string, opts Options) (*WAL, Recovery, []rec) {
	t.Helper()
	var got []rec
	w, r, err := Open(dir, opts, func(lsn uint64, p []byte) error {
		got = append(got, rec{lsn, string(p)})
		return nil
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, r, got
}

func sample(n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{uint64(i + 1), fmt.Sprintf("payload-%d", i+1)}
	}
	return out
}

func TestReplayAfterReopen(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openAll(t, dir, Options{SegmentSize: 64})
	want := sample(10)
	commitAll(t, w, want)
	w.Close()
	w2, r, got := openAll(t, dir, Options{SegmentSize: 64})
	if len(got) != len(want) || r.LastLSN != 10 || r.TornTails != 0 {
		t.Fatalf("unexpected replay; got %d records, last %d, torn %d; want 10, 10, 0", len(got), r.LastLSN, r.TornTails)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	if w2.Segments() < 2 {
		t.Fatalf("expected rotation with 64-byte segments; got %d segments", w2.Segments())
	}
	if err := w2.Commit(AppendRecord(nil, 5, nil), 5); err == nil {
		t.Fatal("commit of an old lsn succeeded")
	}
}

func TestDamageRepair(t *testing.T) {
	cases := []struct {
		name       string
		damage     func(b []byte) []byte
		wantN      int
		wantTorn   int
		wantQuaran int
	}{
		{"torn header", func(b []byte) []byte { return append(b, 1, 2, 3) }, 5, 1, 0},
		{"torn payload", func(b []byte) []byte { return b[:len(b)-3] }, 4, 1, 0},
		{"bad crc mid-file", func(b []byte) []byte { b[HeaderSize+2] ^= 0xff; return b }, 0, 0, 1},
		{"bad crc last record", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, 4, 0, 1},
		{"huge length", func(b []byte) []byte { b[3] = 0xff; return b }, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, q := t.TempDir(), t.TempDir()
			w, _, _ := openAll(t, dir, Options{})
			commitAll(t, w, sample(5))
			seg := filepath.Join(dir, w.ActiveSegment())
			w.Close()
			b, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			w2, r, got := openAll(t, dir, Options{Quarantine: q})
			if len(got) != tc.wantN || r.TornTails != tc.wantTorn || len(r.Quarantined) != tc.wantQuaran {
				t.Fatalf("got %d records, %d torn, %d quarantined; want %d, %d, %d",
					len(got), r.TornTails, len(r.Quarantined), tc.wantN, tc.wantTorn, tc.wantQuaran)
			}
			// The repaired log takes new records and replays cleanly.
			commitAll(t, w2, []rec{{100, "after"}})
			w2.Close()
			_, r3, got3 := openAll(t, dir, Options{Quarantine: q})
			if len(got3) != tc.wantN+1 || r3.TornTails != 0 || len(r3.Quarantined) != 0 {
				t.Fatalf("after repair: got %d records, %d torn, %d quarantined; want %d, 0, 0",
					len(got3), r3.TornTails, len(r3.Quarantined), tc.wantN+1)
			}
		})
	}
}

func TestCorruptionErrorIsTyped(t *testing.T) {
	b := AppendRecord(nil, 7, []byte("x"))
	b[5] ^= 1
	err := ScanRecords("00000001.wal", b, func(uint64, []byte) error { return nil })
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != "00000001.wal" || ce.Offset != 0 || ce.Torn() {
		t.Fatalf("unexpected error %v", err)
	}
}

func TestRemoveThrough(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openAll(t, dir, Options{SegmentSize: 40})
	commitAll(t, w, sample(6))
	before := w.Segments()
	n, err := w.RemoveThrough(3)
	if err != nil || n == 0 || w.Segments() != before-n {
		t.Fatalf("remove through 3: removed %d, err %v, %d of %d segments left", n, err, w.Segments(), before)
	}
	if _, err := w.RemoveThrough(6); err != nil {
		t.Fatal(err)
	}
	if w.Segments() != 1 || w.Size() != 0 {
		t.Fatalf("after removing everything: %d segments, active size %d; want 1, 0", w.Segments(), w.Size())
	}
	commitAll(t, w, []rec{{7, "seven"}})
	w.Close()
	_, _, got := openAll(t, dir, Options{})
	if len(got) != 1 || got[0].lsn != 7 {
		t.Fatalf("replay after truncation: got %+v; want only lsn 7", got)
	}
}

// FuzzWALRecord feeds arbitrary bytes to the record reader: it must never
// panic, never report a payload outside the input, and round-trip what it
// accepts.
func FuzzWALRecord(f *testing.F) {
	f.Add(AppendRecord(nil, 1, []byte("hello")))
	f.Add(AppendRecord(AppendRecord(nil, 1, nil), 2, []byte("two")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var re []byte
		err := ScanRecords("fuzz", b, func(lsn uint64, p []byte) error {
			re = AppendRecord(re, lsn, p)
			return nil
		})
		var ce *CorruptionError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error is not a CorruptionError: %v", err)
		}
		if err == nil && !bytes.Equal(re, b) {
			t.Fatalf("accepted records do not re-encode to the input")
		}
		if err != nil && !bytes.Equal(re, b[:ce.Offset]) {
			t.Fatalf("records before the damage do not re-encode to the prefix")
		}
	})
}

// TestCommitFailure: a commit that cannot be written leaves nothing behind;
// when even the rollback fails, the log refuses every later commit.
func TestCommitFailure(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openAll(t, dir, Options{})
	commitAll(t, w, sample(2))
	size := w.Size()
	w.f.Close() // the write and the rollback both fail now
	if err := w.Commit(AppendRecord(nil, 3, []byte("x")), 3); err == nil {
		t.Fatal("commit to a closed file succeeded")
	}
	if w.Size() != size || w.LastLSN() != 2 {
		t.Fatalf("failed commit changed the log: size %d (was %d), last lsn %d", w.Size(), size, w.LastLSN())
	}
	if err := w.Commit(AppendRecord(nil, 4, []byte("y")), 4); err == nil || !strings.Contains(err.Error(), "unusable") || !w.Broken() {
		t.Fatalf("commit after a failed rollback: %v; want the log unusable", err)
	}
	w.f = nil
	_, _, got := openAll(t, dir, Options{})
	if len(got) != 2 {
		t.Fatalf("replay after a failed commit: %d records; want 2", len(got))
	}
}

// TestFinishRecordMatchesAppendRecord checks that a record built in place
// is byte for byte the one AppendRecord makes.
func TestFinishRecordMatchesAppendRecord(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("payload"), 1000)} {
		want := AppendRecord([]byte("prefix"), 42, payload)
		got, at := BeginRecord([]byte("prefix"))
		got = append(got, payload...)
		got = FinishRecord(got, at, 42)
		if !bytes.Equal(got, want) {
			t.Fatalf("record of %d bytes differs; got %x; want %x", len(payload), got[:min(len(got), 40)], want[:min(len(want), 40)])
		}
	}
}
