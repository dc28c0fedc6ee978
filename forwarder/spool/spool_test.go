package spool

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// payload returns incompressible bytes, so that record sizes are known.
func payload(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 1))
	b := make([]byte, 100+i)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

func mustOpen(t *testing.T, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func appendN(t *testing.T, s *Spool, from, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := from; i < from+n; i++ {
		seq, err := s.Append(int64(i), uint32(i), payload(i), false)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return seqs
}

func next(t *testing.T, s *Spool) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rec, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return rec
}

func noNext(t *testing.T, s *Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if rec, err := s.Next(ctx); err == nil {
		t.Fatalf("unexpected record seq %d", rec.Seq)
	}
}

func checkRecord(t *testing.T, rec Record, i int) {
	t.Helper()
	if rec.CreatedNs != int64(i) || rec.EventCount != uint32(i) || !bytes.Equal(rec.Events, payload(i)) {
		t.Fatalf("record %d: got created %d count %d len %d", i, rec.CreatedNs, rec.EventCount, len(rec.Events))
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendNextReleaseRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	seqs := appendN(t, s, 1, 10)
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("seq %d; want %d", seq, i+1)
		}
	}
	for i := 1; i <= 4; i++ {
		rec := next(t, s)
		checkRecord(t, rec, i)
		s.Release(rec)
	}
	if st := s.Stats(); st.Pending != 6 {
		t.Fatalf("pending %d; want 6", st.Pending)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart ships only what was not acknowledged, byte-identical, and
	// never reuses a batch seq.
	s = mustOpen(t, dir, Options{})
	defer s.Close()
	for i := 5; i <= 10; i++ {
		rec := next(t, s)
		checkRecord(t, rec, i)
		if rec.Seq != uint64(i) {
			t.Fatalf("seq %d; want %d", rec.Seq, i)
		}
	}
	noNext(t, s)
	if seq := appendN(t, s, 11, 1)[0]; seq <= 10 {
		t.Fatalf("seq %d reused after restart", seq)
	}
}

func TestSegmentsReleasedAndSeqsNeverReused(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{MaxBytes: 8 << 10, SegmentBytes: 1 << 10})
	appendN(t, s, 1, 30)
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments; want rotation into several", n)
	}
	for range 30 {
		s.Release(next(t, s))
	}
	appendN(t, s, 31, 1) // rotates the released active segment away
	s.Release(next(t, s))
	noNext(t, s)
	if n := len(segments(t, dir)); n > 2 {
		t.Errorf("%d segments left after every batch was released; want at most 2", n)
	}
	s.Close()
	// Even with the acknowledged mark gone, seqs move on.
	os.Remove(filepath.Join(dir, ackedFile))
	s = mustOpen(t, dir, Options{})
	defer s.Close()
	if seq := appendN(t, s, 1, 1)[0]; seq <= 31 {
		t.Fatalf("seq %d reused", seq)
	}
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	appendN(t, s, 1, 3)
	s.Close()
	segs := segments(t, dir)
	last := segs[len(segs)-1]
	fi, _ := os.Stat(last)
	// A crash in the middle of the third record's write.
	if err := os.Truncate(last, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{})
	defer s.Close()
	if st := s.Stats(); st.TornTails != 1 || st.CorruptSegments != 0 || st.Pending != 2 {
		t.Fatalf("stats %+v; want 1 torn tail, 2 pending", st)
	}
	for i := 1; i <= 2; i++ {
		checkRecord(t, next(t, s), i)
	}
	noNext(t, s)
	appendN(t, s, 4, 1)
	checkRecord(t, next(t, s), 4)
}

func TestFlippedByteQuarantined(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{MaxBytes: 8 << 10, SegmentBytes: 1 << 10})
	appendN(t, s, 1, 20)
	s.Close()
	segs := segments(t, dir)
	if len(segs) < 2 {
		t.Fatalf("%d segments; want several", len(segs))
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[headerSize+recordHeaderSize+metaSize+5] ^= 0x40 // inside the first record's events
	os.WriteFile(segs[0], b, 0o640)
	var cerr *CorruptionError
	if _, err := scanSegment(filepath.Base(segs[0]), bytes.NewReader(b), nil); !errors.As(err, &cerr) || !errors.Is(err, ErrBadChecksum) || cerr.Offset != int64(headerSize) {
		t.Fatalf("scan: %v; want a checksum CorruptionError at offset %d", err, headerSize)
	}
	s = mustOpen(t, dir, Options{MaxBytes: 8 << 10, SegmentBytes: 1 << 10})
	defer s.Close()
	if st := s.Stats(); st.CorruptSegments != 1 {
		t.Fatalf("corrupt segments %d; want 1", st.CorruptSegments)
	}
	if _, err := os.Stat(filepath.Join(dir, quarantineDir, filepath.Base(segs[0]))); err != nil {
		t.Fatalf("segment not in quarantine: %v", err)
	}
	// The rest keeps flowing: the other segments' records, then new ones.
	first := next(t, s)
	if first.Seq <= 1 {
		t.Fatalf("first record seq %d came from the quarantined segment", first.Seq)
	}
	n := 1
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := s.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		n++
	}
	if n >= 20 || n < 10 {
		t.Fatalf("%d records survived; want the records of the intact segments", n)
	}
	appendN(t, s, 21, 1)
	checkRecord(t, next(t, s), 21)
}

func TestCapStopsAppendsUntilReleased(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{MaxBytes: 4 << 10, SegmentBytes: 1 << 10})
	defer s.Close()
	var n int
	for ; ; n++ {
		if n > 100 {
			t.Fatal("spool never filled")
		}
		_, err := s.Append(1, 1, payload(1), false)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Sync()
	if st := s.Stats(); !st.Full || st.Bytes > 4<<10 {
		t.Fatalf("stats %+v; want full, at most 4 KiB", st)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.WaitSpace(context.Background(), len(payload(1))) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitSpace returned %v while full", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Nothing was deleted to make room; shipping makes room.
	for range n {
		s.Release(next(t, s))
	}
	if _, err := s.Append(1, 1, payload(1), false); err != nil && !errors.Is(err, ErrFull) {
		t.Fatal(err)
	}
	s.Sync()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		// The active segment rotated away; the cursor deletes it once it
		// passes, which the next Next does.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		s.Next(ctx)
		cancel()
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompressedRecords(t *testing.T) {
	tests := []struct {
		name        string
		compression Compression
	}{{"s2", CompressionS2}, {"default", ""}, {"none", CompressionNone}}
	events := bytes.Repeat([]byte("@cf/meta/llama-3.1-8b-instruct\x00\x00\x00\x00"), 1000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{Compression: tt.compression})
			if _, err := s.Append(5, 1000, events, false); err != nil {
				t.Fatal(err)
			}
			s.Sync()
			size := s.Stats().Bytes
			if small := size < int64(len(events))/4; small == (tt.compression == CompressionNone) {
				t.Errorf("spool holds %d bytes for %d bytes of events", size, len(events))
			}
			s.Close()
			s = mustOpen(t, dir, Options{})
			defer s.Close()
			rec := next(t, s)
			if !bytes.Equal(rec.Events, events) || rec.EventCount != 1000 || rec.CreatedNs != 5 {
				t.Fatalf("record differs after the round trip")
			}
		})
	}
}

func TestUnknownCompressionRefused(t *testing.T) {
	if s, err := Open(t.TempDir(), Options{Compression: "zstd"}); err == nil {
		s.Close()
		t.Fatal("unexpected open with an unknown compression")
	}
}

func TestBadCompressedEventsQuarantined(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	defer s.Close()
	// A record whose checksum is right but whose S2 block is garbage, as a
	// buggy writer would leave it, in a sealed segment.
	junk := []byte("definitely not an s2 block")
	hdr := appendRecordHeader(nil, 1, 1, 1, flagS2, junk)
	seg := append(append([]byte(segmentMagic), hdr...), junk...)
	s.Close()
	os.WriteFile(filepath.Join(dir, segmentName(100)), seg, 0o640)
	s = mustOpen(t, dir, Options{})
	defer s.Close()
	noNext(t, s)
	if st := s.Stats(); st.CorruptSegments != 1 {
		t.Fatalf("corrupt segments %d; want 1", st.CorruptSegments)
	}
	if _, err := os.Stat(filepath.Join(dir, quarantineDir, segmentName(100))); err != nil {
		t.Fatalf("segment not quarantined: %v", err)
	}
	appendN(t, s, 1, 1)
	checkRecord(t, next(t, s), 1)
}

func TestForwarderIDPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadForwarderID(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadForwarderID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == ([16]byte{}) {
		t.Fatalf("ids %x and %x; want the same non-zero id", a, b)
	}
	os.WriteFile(filepath.Join(dir, forwarderIDFile), []byte("nonsense"), 0o640)
	if _, err := LoadForwarderID(dir); err == nil {
		t.Fatal("a corrupt forwarder-id file was accepted")
	}
}

func FuzzSpoolRecord(f *testing.F) {
	var seg []byte
	seg = append(seg, segmentMagic...)
	for i := range 3 {
		seg = appendRecordHeader(seg, uint64(i+1), int64(i), uint32(i), 0, payload(i))
		seg = append(seg, payload(i)...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add([]byte(segmentMagic))
	f.Add([]byte("RDSPOOL1\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		end, err := scanSegment("fuzz", bytes.NewReader(data), func(rec Record, off int64) {
			rec.Events = bytes.Clone(rec.Events)
			recs = append(recs, rec)
		})
		if end > int64(len(data)) {
			t.Fatalf("valid end %d past %d bytes", end, len(data))
		}
		var cerr *CorruptionError
		if err != nil && !errors.As(err, &cerr) {
			t.Fatalf("error %v is not a CorruptionError", err)
		}
		if err == nil && end != int64(len(data)) {
			t.Fatalf("clean scan ended at %d of %d", end, len(data))
		}
		// What was accepted re-encodes to exactly the accepted bytes.
		if len(recs) > 0 {
			re := []byte(segmentMagic)
			for _, r := range recs {
				re = appendRecordHeader(re, r.Seq, r.CreatedNs, r.EventCount, r.flags, r.Events)
				re = append(re, r.Events...)
			}
			if !bytes.Equal(re, data[:end]) {
				t.Fatalf("re-encoded %d records differ from the accepted %d bytes", len(recs), end)
			}
		}
	})
}
