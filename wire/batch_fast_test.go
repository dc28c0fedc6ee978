package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// batchFromFuzz builds a Batch from fuzz input: the first 36 bytes are the
// fixed fields, the rest are the events (nil when the input says so).
func batchFromFuzz(data []byte) Batch {
	var b Batch
	var fixed [37]byte
	copy(fixed[:], data)
	copy(b.ForwarderID[:], fixed[:16])
	b.BatchSeq = binary.LittleEndian.Uint64(fixed[16:])
	b.CreatedNs = int64(binary.LittleEndian.Uint64(fixed[24:]))
	b.EventCount = binary.LittleEndian.Uint32(fixed[32:])
	if fixed[36]&1 == 0 {
		b.Events = []byte{}
		if len(data) > 37 {
			b.Events = data[37:]
		}
	}
	return b
}

// checkBatchEncoders compares AppendBatch and PutBatch with the go-capnp
// reference and decodes the result.
func checkBatchEncoders(t *testing.T, b Batch) {
	t.Helper()
	want, err := EncodeBatch(&b)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	prefix := []byte("prefix")
	got, err := AppendBatch(append([]byte(nil), prefix...), &b)
	if err != nil {
		t.Fatalf("AppendBatch: %v", err)
	}
	if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("AppendBatch differs from EncodeBatch (events %d bytes, nil %v):\n got %x\nwant %x",
			len(b.Events), b.Events == nil, got[len(prefix):min(len(got), len(prefix)+96)], want[:min(len(want), 96)])
	}
	// In place: the events already sit after the header, the buffer holds junk
	// elsewhere.
	msg := bytes.Repeat([]byte{0xa5}, BatchSize(len(b.Events)))
	copy(msg[BatchHeaderSize:], b.Events)
	inPlace := b
	if b.Events != nil {
		inPlace.Events = msg[BatchHeaderSize : BatchHeaderSize+len(b.Events)]
	}
	if err := PutBatch(msg, &inPlace); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	if !bytes.Equal(msg, want) {
		t.Fatalf("PutBatch differs from EncodeBatch")
	}
	if len(want) != BatchSize(len(b.Events)) {
		t.Fatalf("BatchSize(%d) = %d; reference wrote %d bytes", len(b.Events), BatchSize(len(b.Events)), len(want))
	}
}

// FuzzAppendBatch checks the hand-written Batch encoder against go-capnp's
// EncodeBatch on arbitrary field values and event bytes.
func FuzzAppendBatch(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 37))
	f.Add(append(make([]byte, 36), 1))
	f.Add(append(bytes.Repeat([]byte{0xff}, 37), "abc"...))
	f.Add(append(make([]byte, 37), bytes.Repeat([]byte{7}, 64)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBatchEncoders(t, batchFromFuzz(data))
	})
}

func TestAppendBatchMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	frame, err := EncodeEventCapnp(&Event{Kind: KindClosed, Seq: 9, EmitterID: [16]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		n         int
		nilEvents bool
	}{
		{"nil events", 0, true}, {"empty events", 0, false}, {"one byte", 1, false}, {"seven bytes", 7, false},
		{"one word", 8, false}, {"odd", 1001, false}, {"large", 1 << 20, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := Batch{BatchSeq: r.Uint64(), CreatedNs: int64(r.Uint64()), EventCount: r.Uint32()}
			for i := range b.ForwarderID {
				b.ForwarderID[i] = byte(r.Uint32())
			}
			if !tc.nilEvents {
				b.Events = make([]byte, tc.n)
				for i := range b.Events {
					b.Events[i] = byte(r.Uint32())
				}
			}
			checkBatchEncoders(t, b)
		})
	}
	t.Run("decodes", func(t *testing.T) {
		events := bytes.Repeat(frame, 3)
		body, err := AppendBatch(nil, &Batch{ForwarderID: [16]byte{2}, BatchSeq: 4, CreatedNs: 5, EventCount: 3, Events: events})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBatch(body, DefaultMaxMessageSize)
		if err != nil {
			t.Fatal(err)
		}
		if got.ForwarderID != [16]byte{2} || got.BatchSeq != 4 || got.CreatedNs != 5 || got.EventCount != 3 || !bytes.Equal(got.Events, events) {
			t.Fatalf("decoded %+v", got)
		}
	})
	t.Run("wrong buffer size", func(t *testing.T) {
		if err := PutBatch(make([]byte, BatchHeaderSize), &Batch{Events: []byte{1}}); err == nil {
			t.Fatal("PutBatch accepted a buffer of the wrong size")
		}
	})
}

func BenchmarkAppendBatch(b *testing.B) {
	events := make([]byte, 1<<20)
	batch := Batch{BatchSeq: 1, EventCount: 4000, Events: events}
	b.Run("reference", func(b *testing.B) {
		b.SetBytes(int64(len(events)))
		for b.Loop() {
			if _, err := EncodeBatch(&batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.SetBytes(int64(len(events)))
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = AppendBatch(buf[:0], &batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
