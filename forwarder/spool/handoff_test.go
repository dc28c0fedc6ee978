package spool

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestHandoff checks that the cursor gets the same records whether it takes
// the in-memory copy or reads them back from the segment: with a limit that
// fits only some copies, across a rotation, compressed and not.
func TestHandoff(t *testing.T) {
	cases := []struct {
		name  string
		limit int
		opts  Options
	}{
		{"all in memory", 1 << 20, Options{}},
		{"some read back", 700, Options{}},
		{"none in memory", 0, Options{}},
		{"uncompressed, rotating", 700, Options{Compression: CompressionNone, MaxBytes: 64 << 10, SegmentBytes: 1 << 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := handoffLimit
			handoffLimit = tc.limit
			defer func() { handoffLimit = old }()
			s := mustOpen(t, t.TempDir(), tc.opts)
			defer s.Close()
			appendN(t, s, 1, 12)
			handed := len(s.h.recs)
			for i := 1; i <= 12; i++ {
				rec := next(t, s)
				checkRecord(t, rec, i)
				s.Release(rec)
			}
			if len(s.h.recs) != 0 || s.h.bytes != 0 {
				t.Fatalf("copies left after the cursor passed: %d (%d bytes)", len(s.h.recs), s.h.bytes)
			}
			if tc.limit == 0 && handed != 0 || tc.limit == 1<<20 && handed != 12 {
				t.Fatalf("unexpected copies; got %d", handed)
			}
			appendN(t, s, 13, 1)
			checkRecord(t, next(t, s), 13)
		})
	}
}

// BenchmarkAppendNext measures a batch's round trip through the spool as
// the forwarder makes it: append (S2), sync, and the shipping cursor's
// Next and Release, for 1 MiB batches of realistic-looking (compressible)
// events, with the in-memory handoff and without it (read back and
// decoded from the segment).
//
//	go test -run XXX -bench AppendNext ./forwarder/spool/
func BenchmarkAppendNext(b *testing.B) {
	events := make([]byte, 1<<20)
	for i := range events {
		// Mostly zeros and repeated text with some noise, like Cap'n
		// Proto events: it compresses about 4x.
		switch {
		case i%64 < 24:
			events[i] = byte(i * 7919 >> 3)
		case i%64 < 40:
			events[i] = "@cf/meta/llama-3.1-8b-instruct"[i%30]
		}
	}
	for _, limit := range []int{0, handoffLimit} {
		name := "handoff=off"
		if limit > 0 {
			name = "handoff=on"
		}
		b.Run(name, func(b *testing.B) {
			old := handoffLimit
			handoffLimit = limit
			defer func() { handoffLimit = old }()
			s, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(events)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				if _, err := s.Append(1, 4000, events, false); err != nil {
					b.Fatal(err)
				}
				if err := s.Sync(); err != nil {
					b.Fatal(err)
				}
				rec, err := s.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				s.Release(rec)
			}
			// Wall time is mostly fsync; CPU time is what the handoff saves.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
