package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// encRandString returns "" a fifth of the time, otherwise a string of up to max
// bytes mixing ASCII and multi-byte UTF-8.
func encRandString(r *rand.Rand, max int) string {
	if r.IntN(5) == 0 {
		return ""
	}
	alphabet := []string{"a", "Z", "9", "@", "/", "-", ".", "é", "ß", "日本", "🙂", " "}
	n := 1 + r.IntN(max)
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

func encRandID(r *rand.Rand) [16]byte {
	var id [16]byte
	if r.IntN(6) == 0 {
		return id // absent
	}
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// encRandEvent returns an event of any kind with every field random, lengths
// from empty to maxStr bytes.
func encRandEvent(r *rand.Rand, maxStr int) Event {
	ev := Event{
		ID:           encRandID(r),
		TimestampNs:  int64(r.Uint64()),
		EmitterID:    encRandID(r),
		Seq:          r.Uint64(),
		DroppedTotal: r.Uint64(),
		Kind:         Kind(r.IntN(3)),
	}
	switch ev.Kind {
	case KindInference:
		ev.Inference = Inference{
			AccountID:          r.Uint64(),
			ModelID:            encRandString(r, maxStr),
			RequestTimeUs:      r.Uint64(),
			InferenceTimeUs:    r.Uint64(),
			QueuingTimeUs:      r.Uint64(),
			TimeToFirstTokenUs: r.Uint64(),
			Neurons:            r.NormFloat64() * 1e6,
			ErrorCode:          r.Uint32(),
			HTTPStatus:         uint16(r.Uint32()),
			ColoID:             r.Uint32(),
			SourceColoID:       r.Uint32(),
			LocalQueueSize:     r.Uint32(),
			ModelContainerID:   encRandString(r, maxStr),
			RequestSource:      RequestSource(r.IntN(4)),
			Streamed:           r.IntN(2) == 0,
			Beta:               r.IntN(2) == 0,
			ExternalEndpoint:   r.IntN(2) == 0,
			QueuedInColo:       r.IntN(2) == 0,
			UnixSocket:         r.IntN(2) == 0,
			Backend:            encRandString(r, maxStr),
			InputTokens:        r.Uint32(),
			OutputTokens:       r.Uint32(),
		}
	case KindLifecycle:
		ev.Lifecycle = Lifecycle{
			BeginTs:   int64(r.Uint64()),
			EndTs:     int64(r.Uint64()),
			EventType: LifecycleEndpoint,
			ModelID:   encRandString(r, maxStr),
			Hostname:  encRandString(r, maxStr),
		}
	}
	return ev
}

// encFullEvent has every inference field set to a distinctive non-zero value.
func encFullEvent() Event {
	return Event{
		ID:           [16]byte{0x01, 0x92, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07},
		TimestampNs:  1_764_000_000_123_456_789,
		EmitterID:    [16]byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00},
		Seq:          4242,
		DroppedTotal: 17,
		Kind:         KindInference,
		Inference: Inference{
			AccountID:          123456789012,
			ModelID:            "@cf/meta/llama-3.1-8b-instruct",
			RequestTimeUs:      1_500_000,
			InferenceTimeUs:    1_200_000,
			QueuingTimeUs:      250_000,
			TimeToFirstTokenUs: 180_000,
			Neurons:            12.375,
			ErrorCode:          3040,
			HTTPStatus:         429,
			ColoID:             77,
			SourceColoID:       78,
			LocalQueueSize:     5,
			ModelContainerID:   "container-ü-7",
			RequestSource:      SourceRESTAPI,
			Streamed:           true,
			Beta:               true,
			ExternalEndpoint:   true,
			QueuedInColo:       true,
			UnixSocket:         true,
			Backend:            "vllm",
			InputTokens:        512,
			OutputTokens:       1024,
		},
	}
}

// encSameEvent compares field by field; NaN neurons compare by bits.
func encSameEvent(a, b Event) bool { return Equal(&a, &b) }

func TestAppendEventRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		n      int
		maxStr int
	}{
		{"short strings", 2000, 40},
		{"medium strings", 300, 2000},
		{"long strings", 12, 20 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < tc.n; i++ {
				ev := encRandEvent(r, tc.maxStr)
				got := AppendEvent(nil, &ev)
				if len(got) != EncodedSize(&ev) {
					t.Fatalf("event %d: unexpected size; got %d; want %d", i, len(got), EncodedSize(&ev))
				}
				dec, err := DecodeEventCapnp(got)
				if err != nil {
					t.Fatalf("event %d: decode: %v", i, err)
				}
				if !encSameEvent(dec, ev) {
					t.Fatalf("event %d: round trip differs\ngot  %+v\nwant %+v", i, dec, ev)
				}
				ref, err := EncodeEventCapnp(&ev)
				if err != nil {
					t.Fatalf("event %d: reference encode: %v", i, err)
				}
				if !bytes.Equal(got, ref) {
					t.Fatalf("event %d: bytes differ from go-capnp's\ngot  %x\nwant %x", i, got, ref)
				}
			}
		})
	}
}

func TestAppendEventEdgeCases(t *testing.T) {
	long := strings.Repeat("日本語テキスト", 60<<10/21) // about 60 KiB of 3-byte runes
	cases := []struct {
		name string
		ev   Event
	}{
		{"zero inference", Event{}},
		{"closed", Event{EmitterID: [16]byte{1}, Seq: 99, DroppedTotal: 3, Kind: KindClosed}},
		{"empty lifecycle", Event{Kind: KindLifecycle}},
		{"full inference", encFullEvent()},
		{"nan neurons", Event{Inference: Inference{Neurons: math.NaN()}}},
		{"negative timestamp", Event{TimestampNs: -1, Kind: KindLifecycle, Lifecycle: Lifecycle{BeginTs: math.MinInt64, EndTs: math.MaxInt64}}},
		{"60 KiB model id", Event{ID: [16]byte{9}, Inference: Inference{ModelID: long}}},
		{"text lengths around a word", Event{Inference: Inference{ModelID: "1234567", ModelContainerID: "12345678", Backend: "123456789"}}},
		{"lifecycle texts", Event{Kind: KindLifecycle, Lifecycle: Lifecycle{ModelID: "@cf/openai/whisper", Hostname: "host-1.example"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendEvent(nil, &tc.ev)
			dec, err := DecodeEventCapnp(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !encSameEvent(dec, tc.ev) {
				t.Fatalf("round trip differs\ngot  %+v\nwant %+v", dec, tc.ev)
			}
			if n, err := FrameSize(got, 1<<20); err != nil || n != len(got) {
				t.Fatalf("unexpected frame size; got %d, %v; want %d", n, err, len(got))
			}
		})
	}
}

// TestAppendEventAppends checks that AppendEvent keeps what dst held, so a
// writer can coalesce many events into one buffer and split them again.
func TestAppendEventAppends(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var evs []Event
	buf := []byte("prefix")
	for i := 0; i < 50; i++ {
		ev := encRandEvent(r, 100)
		evs = append(evs, ev)
		buf = AppendEvent(buf, &ev)
	}
	if string(buf[:6]) != "prefix" {
		t.Fatalf("prefix overwritten: %q", buf[:6])
	}
	i := 0
	err := Frames(buf[6:], 1<<20, func(frame []byte) error {
		dec, err := DecodeEventCapnp(frame)
		if err != nil {
			return err
		}
		if !encSameEvent(dec, evs[i]) {
			t.Fatalf("frame %d differs\ngot  %+v\nwant %+v", i, dec, evs[i])
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatalf("frames: %v", err)
	}
	if i != len(evs) {
		t.Fatalf("unexpected frame count; got %d; want %d", i, len(evs))
	}
}

func TestAppendEventNoAllocs(t *testing.T) {
	ev := encFullEvent()
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendEvent(buf[:0], &ev)
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := encFullEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(EncodedSize(&ev)))
	for b.Loop() {
		buf = AppendEvent(buf[:0], &ev)
	}
}

func BenchmarkAppendEventCapnp(b *testing.B) {
	ev := encFullEvent()
	b.ReportAllocs()
	b.SetBytes(int64(EncodedSize(&ev)))
	for b.Loop() {
		if _, err := EncodeEventCapnp(&ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEventJSON is the baseline: encoding/json of the same struct.
func BenchmarkAppendEventJSON(b *testing.B) {
	ev := encFullEvent()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	b.ReportAllocs()
	b.SetBytes(int64(EncodedSize(&ev)))
	for b.Loop() {
		buf.Reset()
		if err := enc.Encode(&ev); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzAppendEventRoundTrip checks that whatever strings and numbers an
// event holds, the reference decoder reads back exactly what AppendEvent
// wrote.
func FuzzAppendEventRoundTrip(f *testing.F) {
	f.Add(uint8(0), "@cf/meta/llama-3.1-8b-instruct", "c-1", "vllm", uint64(1), int64(-1), uint32(7), 1.5, []byte{1, 2})
	f.Add(uint8(1), "", "host", "", uint64(0), int64(0), uint32(0), 0.0, []byte(nil))
	f.Add(uint8(2), "日本", "\x00", "1234567", uint64(1<<63), int64(1<<62), uint32(1<<31), -2.5, []byte{0xff})
	f.Fuzz(func(t *testing.T, kind uint8, s1, s2, s3 string, u uint64, i int64, u32 uint32, fl float64, id []byte) {
		ev := Event{TimestampNs: i, Seq: u, DroppedTotal: u ^ 0x5555, Kind: Kind(kind % 3)}
		copy(ev.ID[:], id)
		copy(ev.EmitterID[:], s1)
		switch ev.Kind {
		case KindInference:
			ev.Inference = Inference{AccountID: u, ModelID: s1, ModelContainerID: s2, Backend: s3, Neurons: fl,
				ErrorCode: u32, HTTPStatus: uint16(u32), LocalQueueSize: u32, InputTokens: u32, OutputTokens: ^u32,
				RequestSource: RequestSource(u32 % 4), Streamed: u32&1 != 0, UnixSocket: u32&16 != 0}
		case KindLifecycle:
			ev.Lifecycle = Lifecycle{BeginTs: i, EndTs: -i, ModelID: s1, Hostname: s2}
		}
		b := AppendEvent(nil, &ev)
		got, err := DecodeEventCapnp(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !encSameEvent(got, ev) {
			t.Fatalf("round trip differs\ngot  %+v\nwant %+v", got, ev)
		}
	})
}
