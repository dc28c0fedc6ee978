package forwarder

import (
	"io"

	"github.com/readout-dev/readout/wire"
)

const (
	// initialReadBuffer is what an idle or slow connection holds; 1,000
	// connections cost 4 MiB.
	initialReadBuffer = 4 << 10
	// busyReadBuffer is what a connection that keeps filling its buffer
	// grows to, so fast emitters are read in large gulps.
	busyReadBuffer = 128 << 10
)

// maxReadBuffer is the most one connection's read buffer ever holds: a
// whole message of the largest allowed size, or the busy size.
func maxReadBuffer(maxMsg int) int { return max(maxMsg, busyReadBuffer) }

// frameReader splits a byte stream into stream-framed messages without
// allocating per frame. It learns a frame's size from its segment table
// before buffering it, so a peer cannot make it hold more than
// maxReadBuffer(maxMsg) bytes.
type frameReader struct {
	buf        []byte
	start, end int // unconsumed bytes are buf[start:end]
	need       int // size of the incomplete frame at start, once known
	filled     bool
	maxMsg     int
}

func newFrameReader(maxMsg int) *frameReader {
	return &frameReader{buf: make([]byte, initialReadBuffer), maxMsg: maxMsg}
}

// buffered reports whether part of a frame is waiting for more bytes.
func (fr *frameReader) buffered() bool { return fr.end > fr.start }

// readFrom reads once from r. Frames returned by next before the call are
// invalid after it.
func (fr *frameReader) readFrom(r io.Reader) (int, error) {
	fr.makeRoom()
	n, err := r.Read(fr.buf[fr.end:])
	fr.end += n
	fr.filled = fr.end == len(fr.buf)
	return n, err
}

// makeRoom compacts the unconsumed bytes to the front and grows the buffer
// when a known frame does not fit or the peer keeps filling it.
func (fr *frameReader) makeRoom() {
	pending := fr.end - fr.start
	size := len(fr.buf)
	if fr.need > size {
		size = fr.need
	}
	if fr.filled && size < busyReadBuffer {
		size = min(2*size, busyReadBuffer)
	}
	size = min(size, maxReadBuffer(fr.maxMsg))
	switch {
	case size != len(fr.buf):
		nb := make([]byte, size)
		copy(nb, fr.buf[fr.start:fr.end])
		fr.buf = nb
	case fr.start == 0:
		return
	case pending == 0 || len(fr.buf)-fr.end < len(fr.buf)/4 || fr.start+fr.need > len(fr.buf):
		copy(fr.buf, fr.buf[fr.start:fr.end])
	default:
		return
	}
	fr.start, fr.end = 0, pending
}

// next returns the next whole frame, or nil when more bytes are needed, or
// a *wire.FrameError when the stream cannot be framed. The frame aliases
// the reader's buffer until the next readFrom.
func (fr *frameReader) next() ([]byte, error) {
	n, err := wire.FrameSize(fr.buf[fr.start:fr.end], fr.maxMsg)
	if err == wire.ErrShortFrame {
		fr.need = 0
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if n > fr.end-fr.start {
		fr.need = n
		return nil, nil
	}
	fr.need = 0
	frame := fr.buf[fr.start : fr.start+n : fr.start+n]
	fr.start += n
	return frame, nil
}
