package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func ackBytes(t testing.TB, acks ...Ack) []byte {
	t.Helper()
	var b []byte
	for _, a := range acks {
		f, err := EncodeAck(a)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, f...)
	}
	return b
}

func TestDecodeAckFast(t *testing.T) {
	for _, a := range []Ack{{}, {DurableSeq: 1}, {DurableSeq: 1<<64 - 1, Closed: true}, {Closed: true}} {
		got, ok := decodeAckFast(ackBytes(t, a))
		if !ok || got != a {
			t.Fatalf("unexpected decode %+v, %v; want %+v", got, ok, a)
		}
	}
	frame := ackBytes(t, Ack{DurableSeq: 5})
	if allocs := testing.AllocsPerRun(100, func() { decodeAckFast(frame) }); allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}

func TestAppendAck(t *testing.T) {
	for _, a := range []Ack{{}, {DurableSeq: 1}, {DurableSeq: 1<<64 - 1, Closed: true}, {Closed: true}} {
		got := AppendAck([]byte("prefix"), a)
		if want := ackBytes(t, a); string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
			t.Fatalf("AppendAck(%+v) = %x; want prefix and EncodeAck's %x", a, got, want)
		}
	}
	buf := make([]byte, 0, 64)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendAck(buf[:0], Ack{DurableSeq: 5}) }); allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}

func TestReadAcks(t *testing.T) {
	three := ackBytes(t, Ack{DurableSeq: 1}, Ack{DurableSeq: 7}, Ack{DurableSeq: 9, Closed: true})
	huge := []byte{0, 0, 0, 0, 0xff, 0xff, 0, 0} // one segment of 65535 words
	cases := []struct {
		name    string
		r       io.Reader
		want    []Ack
		wantErr func(error) bool
	}{
		{"three acks", bytes.NewReader(three), []Ack{{DurableSeq: 1}, {DurableSeq: 7}, {DurableSeq: 9, Closed: true}},
			func(err error) bool { return err == io.EOF }},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(three)), []Ack{{DurableSeq: 1}, {DurableSeq: 7}, {DurableSeq: 9, Closed: true}},
			func(err error) bool { return err == io.EOF }},
		{"truncated", bytes.NewReader(three[:len(three)-3]), []Ack{{DurableSeq: 1}, {DurableSeq: 7}},
			func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"oversized frame", bytes.NewReader(huge), nil,
			func(err error) bool { var fe *FrameError; return errors.As(err, &fe) }},
		{"too many segments", bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}), nil,
			func(err error) bool { var fe *FrameError; return errors.As(err, &fe) }},
		{"read error", iotest.ErrReader(io.ErrClosedPipe), nil,
			func(err error) bool { return errors.Is(err, io.ErrClosedPipe) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []Ack
			err := ReadAcks(tc.r, func(a Ack) { got = append(got, a) })
			if !tc.wantErr(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("unexpected acks %+v; want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ack %d: got %+v; want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzReadAcks feeds arbitrary bytes, as a hostile or broken forwarder
// could send them, to the acknowledgement reader: it must never panic, and
// every ack it reports must survive a round trip.
func FuzzReadAcks(f *testing.F) {
	f.Add(ackBytes(f, Ack{DurableSeq: 1}, Ack{DurableSeq: 1 << 62, Closed: true}))
	f.Add(ackBytes(f, Ack{})[:5])
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 2, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Where the allocation-free decoder takes a frame, it must agree
		// with the reference decoder.
		if n, err := FrameSize(data, maxAckSize); err == nil && n <= len(data) {
			if fast, ok := decodeAckFast(data[:n]); ok {
				ref, err := DecodeAck(data[:n])
				if err != nil || ref != fast {
					t.Fatalf("fast decoder says %+v; reference says %+v, %v", fast, ref, err)
				}
			}
		}
		_ = ReadAcks(bytes.NewReader(data), func(a Ack) {
			b, err := EncodeAck(a)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", a, err)
			}
			if fast := AppendAck(nil, a); !bytes.Equal(fast, b) {
				t.Fatalf("AppendAck(%+v) = %x; EncodeAck wrote %x", a, fast, b)
			}
			back, err := DecodeAck(b)
			if err != nil || back != a {
				t.Fatalf("round trip of %+v: got %+v, %v", a, back, err)
			}
		})
	})
}
