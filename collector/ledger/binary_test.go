package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

func sampleLedger(r *rand.Rand, emitters int) *Ledger {
	l := New()
	for e := 0; e < emitters; e++ {
		var id [16]byte
		r.Read(id[:])
		for i := 0; i < 200; i++ {
			seq := uint64(r.Intn(300) + 1)
			if !l.Seen(id, seq) {
				l.Accept(id, seq, uint64(r.Intn(5)), Arrival{Forwarder: [16]byte{byte(e % 3)}, WallNs: int64(r.Intn(1e9)), IngestNs: int64(r.Intn(1e9))})
			}
		}
		if e%2 == 0 {
			l.Duplicate(id, int64(r.Intn(9)), Arrival{WallNs: 5})
			l.Close(id, 300, 7, Arrival{WallNs: -3}) // a clock before 1970 still round-trips
			l.Emitters[id].Floor = 7
			l.Emitters[id].Undeduped = 2
		}
	}
	l.Emitters[[16]byte{0xee}] = &Emitter{} // nothing accepted yet
	l.Untracked = UntrackedTotals{Events: 5, Duplicates: 1, Closed: 2, LastSeenNs: 99}
	l.recount()
	return l
}

func TestBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 50} {
		l := sampleLedger(r, n)
		b := l.AppendBinary([]byte("prefix"))
		got, rest, err := ReadBinary(append(b[len("prefix"):], 9, 9), BinaryVersion)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rest, []byte{9, 9}) {
			t.Fatalf("rest %v; want the two bytes after the ledger", rest)
		}
		for id, e := range l.Emitters {
			if len(e.Seqs) == 0 {
				e.Seqs = nil // nil and empty are the same set
			}
			if !reflect.DeepEqual(got.Emitters[id], e) {
				t.Fatalf("emitter %x: got %+v; want %+v", id, got.Emitters[id], e)
			}
		}
		if len(got.Emitters) != len(l.Emitters) {
			t.Fatalf("got %d emitters; want %d", len(got.Emitters), len(l.Emitters))
		}
		if got.Untracked != l.Untracked || !reflect.DeepEqual(got.perForwarder, l.perForwarder) {
			t.Fatalf("got untracked %+v, per forwarder %v; want %+v, %v", got.Untracked, got.perForwarder, l.Untracked, l.perForwarder)
		}
	}
}

func TestReadBinaryDamage(t *testing.T) {
	good := sampleLedger(rand.New(rand.NewSource(2)), 3).AppendBinary(nil)
	for n := 0; n < len(good); n++ {
		if _, _, err := ReadBinary(good[:n], BinaryVersion); !errors.Is(err, ErrBinary) {
			t.Fatalf("truncated at %d of %d: got %v; want ErrBinary", n, len(good), err)
		}
	}
	// Two emitters with the same id, and adjacent ranges.
	one := New()
	one.Accept([16]byte{1}, 1, 0, Arrival{})
	b := one.AppendBinary(nil)
	emitter, trailer := b[1:len(b)-4], b[len(b)-4:]
	dup := append([]byte{2}, emitter...)
	dup = append(dup, emitter...)
	dup = append(dup, trailer...)
	if _, _, err := ReadBinary(dup, BinaryVersion); !errors.Is(err, ErrBinary) || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate emitter: got %v", err)
	}
	one.Emitters[[16]byte{1}].Seqs = Ranges{{1, 2}, {3, 4}}
	if _, _, err := ReadBinary(one.AppendBinary(nil), BinaryVersion); !errors.Is(err, ErrBinary) {
		t.Fatalf("adjacent ranges: got %v", err)
	}
}

func FuzzReadBinary(f *testing.F) {
	f.Add(sampleLedger(rand.New(rand.NewSource(3)), 2).AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []int{1, BinaryVersion} {
			l, _, err := ReadBinary(b, v)
			if err != nil {
				continue
			}
			// What decodes is a valid ledger: it encodes and decodes again.
			if _, _, err := ReadBinary(l.AppendBinary(nil), BinaryVersion); err != nil {
				t.Fatalf("re-read of version %d: %v", v, err)
			}
		}
	})
}

// A version 1 ledger (checkpoints before the ingest clock) still reads,
// with expiry measured from its arrival times.
func TestReadBinaryVersion1(t *testing.T) {
	var b []byte
	b = binary.AppendUvarint(b, 1)
	b = append(b, bytes.Repeat([]byte{7}, 16)...)
	for _, v := range []uint64{1, 5, 0} { // first, last, dropped
		b = binary.AppendUvarint(b, v)
	}
	for _, v := range []int64{5, 2, 1234} { // received, duplicates, last seen
		b = binary.AppendVarint(b, v)
	}
	b = append(b, 1)               // closed
	b = binary.AppendUvarint(b, 1) // one range
	b = binary.AppendUvarint(b, 1) // lo
	b = binary.AppendUvarint(b, 4) // hi - lo
	l, rest, err := ReadBinary(b, 1)
	if err != nil || len(rest) != 0 {
		t.Fatalf("got %v, %d bytes left", err, len(rest))
	}
	e := l.Emitters[[16]byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}]
	want := &Emitter{Seqs: Ranges{{1, 5}}, FirstSeq: 1, LastSeq: 5, Received: 5, Duplicates: 2, Closed: true, LastSeenNs: 1234, ActiveNs: 1234}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("unexpected emitter; got %+v; want %+v", e, want)
	}
}
