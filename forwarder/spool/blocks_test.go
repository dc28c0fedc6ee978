package spool

import (
	"bytes"
	"testing"
)

// TestRecordBodyInPlace checks that every record Next returns, taken from
// the handoff or read back (stored plain or S2), has room around its events
// for a message header and padding, that Body uses that room without
// copying, and that recycled memory serves later records without mixing
// their contents up.
func TestRecordBodyInPlace(t *testing.T) {
	compressible := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 4000+i) }
	cases := []struct {
		name   string
		limit  int
		opts   Options
		events func(int) []byte
	}{
		{"handoff", 1 << 20, Options{Compression: CompressionNone}, payload},
		{"read back", 0, Options{Compression: CompressionNone}, payload},
		{"read back s2", 0, Options{}, compressible},
		{"mixed", 700, Options{Compression: CompressionNone}, payload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := handoffLimit
			handoffLimit = tc.limit
			defer func() { handoffLimit = old }()
			s := mustOpen(t, t.TempDir(), tc.opts)
			defer s.Close()
			for round := range 3 {
				for i := 1; i <= 6; i++ {
					if _, err := s.Append(int64(i), uint32(i), tc.events(round*10+i), false); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= 6; i++ {
					rec := next(t, s)
					want := tc.events(round*10 + i)
					if !bytes.Equal(rec.Events, want) {
						t.Fatalf("round %d record %d: events differ", round, i)
					}
					if rec.mem == nil {
						t.Fatalf("round %d record %d: events not in a block of their own", round, i)
					}
					body := rec.Body(72, 8)
					if len(body) != 72+len(want)+8 || &body[72] != &rec.Events[0] {
						t.Fatalf("round %d record %d: Body copied or has the wrong size", round, i)
					}
					for j := range 72 {
						body[j] = 0xee
					}
					clear(body[72+len(want):])
					if !bytes.Equal(rec.Events, want) {
						t.Fatalf("round %d record %d: writing around the events changed them", round, i)
					}
					s.Release(rec)
					Recycle(&rec)
					if rec.Events != nil || rec.mem != nil {
						t.Fatal("Recycle left the record usable")
					}
				}
			}
		})
	}
}

func TestRecordBodyCopiesForeignEvents(t *testing.T) {
	ev := []byte("events")
	rec := Record{Events: ev}
	body := rec.Body(4, 2)
	if len(body) != 12 || string(body[4:10]) != "events" {
		t.Fatalf("body %q", body)
	}
	body[4] = 'X'
	if string(ev) != "events" {
		t.Fatal("Body wrote into events it does not own")
	}
	if got := rec.Body(Headroom+1, 0); len(got) != Headroom+1+len(ev) {
		t.Fatalf("body of %d bytes", len(got))
	}
	Recycle(&rec) // not pooled: nothing to give back
}

func TestBlocksReusedAndBounded(t *testing.T) {
	p := getBlock(1000)
	if len(*p) != 1000 || cap(*p)%blockRound != 0 {
		t.Fatalf("block len %d cap %d", len(*p), cap(*p))
	}
	putBlock(p)
	q := getBlock(2000)
	if q != p {
		t.Fatal("a free block big enough was not reused")
	}
	big := make([]byte, keepBytes+1)
	putBlock(&big)
	blocks.mu.Lock()
	kept := blocks.bytes
	blocks.mu.Unlock()
	if kept > keepBytes {
		t.Fatalf("free list holds %d bytes, over its bound %d", kept, keepBytes)
	}
}

// TestAppendBlockKeepsBlock checks that a batch assembled in a buffer from
// NewBuffer is kept by the handoff without a copy and reaches the cursor
// intact, and that the caller keeps its buffer when the handoff has no room.
func TestAppendBlockKeepsBlock(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		kept  bool
	}{{"kept", 1 << 20, true}, {"no room", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			old := handoffLimit
			handoffLimit = tc.limit
			defer func() { handoffLimit = old }()
			s := mustOpen(t, t.TempDir(), Options{Compression: CompressionNone})
			defer s.Close()
			buf, mem := NewBuffer(4096)
			buf = append(buf, payload(7)...)
			_, kept, err := s.AppendBlock(7, 7, buf, mem, false)
			if err != nil {
				t.Fatal(err)
			}
			if kept != tc.kept {
				t.Fatalf("AppendBlock kept = %v; want %v", kept, tc.kept)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			rec := next(t, s)
			checkRecord(t, rec, 7)
			if shared := &rec.Events[0] == &buf[0]; shared != tc.kept {
				t.Fatalf("record shares the caller's memory: %v; want %v", shared, tc.kept)
			}
			if !tc.kept {
				// Still the caller's: writing to it changes no record.
				buf[0] ^= 0xff
				checkRecord(t, rec, 7)
				FreeBuffer(mem)
			}
			s.Release(rec)
			Recycle(&rec)
		})
	}
	t.Run("moved", func(t *testing.T) {
		buf, mem := NewBuffer(8)
		grown := append(buf, make([]byte, 64)...) // past its capacity: a new array
		if inBlock(grown, mem) {
			t.Fatal("events that are not in the block were taken for it")
		}
		if inBlock(nil, mem) || inBlock(buf[:0], nil) {
			t.Fatal("an empty buffer or no block was taken")
		}
	})
}
