package ledger

import (
	"errors"
	"math/rand"
	"reflect"
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
				l.Accept(id, seq, uint64(r.Intn(5)), int64(r.Intn(1e9)))
			}
		}
		if e%2 == 0 {
			l.Duplicate(id, int64(r.Intn(9)), 5)
			l.Close(id, 300, 7, -3) // a clock before 1970 still round-trips
		}
	}
	l.Emitters[[16]byte{0xee}] = &Emitter{} // nothing accepted yet
	return l
}

func TestBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 50} {
		l := sampleLedger(r, n)
		b := l.AppendBinary([]byte("prefix"))
		got, rest, err := ReadBinary(append(b[len("prefix"):], 9, 9))
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
	}
}

func TestReadBinaryDamage(t *testing.T) {
	good := sampleLedger(rand.New(rand.NewSource(2)), 3).AppendBinary(nil)
	for n := 0; n < len(good); n++ {
		if _, _, err := ReadBinary(good[:n]); !errors.Is(err, ErrBinary) {
			t.Fatalf("truncated at %d of %d: got %v; want ErrBinary", n, len(good), err)
		}
	}
	// Two emitters with the same id, and adjacent ranges.
	one := New()
	one.Accept([16]byte{1}, 1, 0, 0)
	b := one.AppendBinary(nil)
	dup := append([]byte{2}, b[1:]...)
	dup = append(dup, b[1:]...)
	if _, _, err := ReadBinary(dup); !errors.Is(err, ErrBinary) {
		t.Fatalf("duplicate emitter: got %v", err)
	}
	one.Emitters[[16]byte{1}].Seqs = Ranges{{1, 2}, {3, 4}}
	if _, _, err := ReadBinary(one.AppendBinary(nil)); !errors.Is(err, ErrBinary) {
		t.Fatalf("adjacent ranges: got %v", err)
	}
}

func FuzzReadBinary(f *testing.F) {
	f.Add(sampleLedger(rand.New(rand.NewSource(3)), 2).AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, _, err := ReadBinary(b)
		if err != nil {
			return
		}
		// What decodes is a valid ledger: it encodes and decodes again.
		if _, _, err := ReadBinary(l.AppendBinary(nil)); err != nil {
			t.Fatalf("re-read: %v", err)
		}
	})
}
