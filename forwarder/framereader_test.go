package forwarder

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/readout-dev/readout/wire"
)

// chunkedReader returns its data in reads of the given sizes, cycling.
type chunkedReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = max(1, r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// readAll drives a frameReader over r the way a connection does and
// returns the frames and the error that ended the stream.
func readAll(t *testing.T, r io.Reader, maxMsg int) ([][]byte, error) {
	fr := newFrameReader(maxMsg)
	var frames [][]byte
	for {
		_, err := fr.readFrom(r)
		if len(fr.buf) > maxReadBuffer(maxMsg) {
			t.Fatalf("read buffer grew to %d; limit %d", len(fr.buf), maxReadBuffer(maxMsg))
		}
		for {
			f, ferr := fr.next()
			if ferr != nil {
				return frames, ferr
			}
			if f == nil {
				break
			}
			frames = append(frames, bytes.Clone(f))
		}
		if err != nil {
			if fr.buffered() {
				return frames, io.ErrUnexpectedEOF
			}
			return frames, nil
		}
	}
}

func TestFrameReader(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := range 200 {
		f := encode(t, &wire.Event{Seq: uint64(i), EmitterID: [16]byte{1}, Kind: wire.KindInference,
			Inference: wire.Inference{ModelID: string(bytes.Repeat([]byte{'m'}, i*37))}})
		stream = append(stream, f...)
		want = append(want, f)
	}
	tests := []struct {
		name  string
		sizes []int
	}{
		{"one read", nil},
		{"byte by byte", []int{1}},
		{"odd sizes", []int{7, 3, 1000, 1, 65536, 13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, &chunkedReader{data: stream, sizes: tt.sizes}, wire.DefaultMaxMessageSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d frames; want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

func FuzzFrameReader(f *testing.F) {
	ev := encode(f, &wire.Event{Seq: 1, EmitterID: [16]byte{1}, Kind: wire.KindInference, Inference: wire.Inference{ModelID: "m"}})
	f.Add(ev, uint8(0))
	f.Add(append(bytes.Clone(ev), ev[:5]...), uint8(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x20}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		const maxMsg = 1 << 10
		var sizes []int
		if step > 0 {
			sizes = []int{int(step), 1, int(step) * 3}
		}
		frames, err := readAll(t, &chunkedReader{data: bytes.Clone(data), sizes: sizes}, maxMsg)
		var fe *wire.FrameError
		if err != nil && !errors.As(err, &fe) && err != io.ErrUnexpectedEOF {
			t.Fatalf("unexpected error %v", err)
		}
		// Frames are whole, within the limit, and are exactly the start
		// of the stream, in order.
		off := 0
		for _, fr := range frames {
			n, ferr := wire.FrameSize(fr, maxMsg)
			if ferr != nil || n != len(fr) || len(fr) > maxMsg {
				t.Fatalf("frame of %d bytes: size %d, %v", len(fr), n, ferr)
			}
			if !bytes.Equal(fr, data[off:off+len(fr)]) {
				t.Fatal("frame is not the next bytes of the stream")
			}
			off += len(fr)
		}
		if err == nil && off != len(data) {
			t.Fatalf("clean end after %d of %d bytes", off, len(data))
		}
	})
}
