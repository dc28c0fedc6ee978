package ledger

import (
	"math/rand"
	"reflect"
	"testing"
)

func TestRangesAgainstSet(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, span := range []int{10, 100, 1000} {
		var rs Ranges
		set := map[uint64]bool{}
		for i := 0; i < 3*span; i++ {
			seq := uint64(r.Intn(span) + 1)
			if got := rs.Contains(seq); got != set[seq] {
				t.Fatalf("contains %d: got %v want %v (ranges %v)", seq, got, set[seq], rs)
			}
			if !set[seq] {
				rs = rs.Add(seq)
				set[seq] = true
			}
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Lo <= rs[i-1].Hi+1 {
				t.Fatalf("ranges not disjoint and separated: %v", rs)
			}
		}
	}
}

func TestAuditFlow(t *testing.T) {
	l := New()
	id := [16]byte{1}
	for _, seq := range []uint64{3, 1, 2, 5} {
		if l.Seen(id, seq) {
			t.Fatalf("seq %d seen before accepted", seq)
		}
		l.Accept(id, seq, 1, Arrival{WallNs: 100, IngestNs: 100})
	}
	if !l.Seen(id, 2) {
		t.Fatal("accepted seq not seen")
	}
	l.Duplicate(id, 2, Arrival{WallNs: 200, IngestNs: 200})
	l.Close(id, 6, 2, Arrival{WallNs: 300, IngestNs: 300})
	l.Close(id, 6, 2, Arrival{WallNs: 300, IngestNs: 300})
	rows := l.AuditRows()
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	r := rows[0]
	if r.FirstSeq != 1 || r.LastSeq != 6 || r.Received != 4 || r.Dropped != 2 || r.Duplicates != 2 || !r.Closed || r.Unexplained() != 0 {
		t.Fatalf("unexpected audit row %+v", r)
	}
	l2, _, err := ReadBinary(l.AppendBinary(nil), BinaryVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Emitters, l2.Emitters) {
		t.Fatalf("round trip differs: %+v", l2.Emitters)
	}
	if n := l2.Expire(301); n != 1 || len(l2.Emitters) != 0 {
		t.Fatalf("expire: got %d", n)
	}
}
