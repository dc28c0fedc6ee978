package emitter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/readout-dev/readout/wire"
)

// maxAckSize bounds one acknowledgement frame. An Ack is 32 bytes; the slack
// allows a newer forwarder to add fields.
const maxAckSize = 1 << 10

// readAcks reads stream-framed Ack messages from r and calls fn with each,
// until r fails or a frame is invalid. The bytes come from the peer and are
// untrusted: a frame that claims more than maxAckSize is refused before it
// is read. It returns io.EOF when the stream ends cleanly between frames.
func readAcks(r io.Reader, fn func(wire.Ack)) error {
	buf := make([]byte, 4*maxAckSize)
	n := 0
	var readErr error
	for {
		// Take every whole frame buffered so far.
		start := 0
		for {
			size, err := wire.FrameSize(buf[start:n], maxAckSize)
			if errors.Is(err, wire.ErrShortFrame) || (err == nil && size > n-start) {
				break
			}
			if err != nil {
				return fmt.Errorf("read ack: %w", err)
			}
			frame := buf[start : start+size]
			a, ok := decodeAckFast(frame)
			if !ok {
				if a, err = wire.DecodeAck(frame); err != nil {
					return fmt.Errorf("read ack: %w", err)
				}
			}
			fn(a)
			start += size
		}
		n = copy(buf, buf[start:n])
		if readErr != nil {
			if readErr == io.EOF && n > 0 {
				return fmt.Errorf("read ack: %d trailing bytes: %w", n, io.ErrUnexpectedEOF)
			}
			return readErr
		}
		var m int
		m, readErr = r.Read(buf[n:])
		n += m
	}
}

// decodeAckFast reads the common layout of an Ack, as every Cap'n Proto
// encoder writes it (one segment, the root a struct pointer within it),
// without allocating: go-capnp's reader costs about 1.5 KB of garbage per
// message, and acks come once per write. It reports false for anything else,
// which the caller hands to the reference decoder. frame is a whole frame
// (wire.FrameSize checked it); every offset is bounds-checked here.
func decodeAckFast(frame []byte) (wire.Ack, bool) {
	if len(frame) < 16 || binary.LittleEndian.Uint32(frame) != 0 {
		return wire.Ack{}, false
	}
	seg := frame[8:]
	words := uint64(binary.LittleEndian.Uint32(frame[4:]))
	if uint64(len(seg)) != 8*words {
		return wire.Ack{}, false
	}
	root := binary.LittleEndian.Uint64(seg)
	if root == 0 || root&3 != 0 {
		return wire.Ack{}, false // null, or not a struct pointer
	}
	off := int64(int32(uint32(root)) >> 2)
	dataWords := int64(uint16(root >> 32))
	ptrWords := int64(uint16(root >> 48))
	start := 1 + off
	if start < 1 || start+dataWords+ptrWords > int64(words) {
		return wire.Ack{}, false
	}
	data := seg[8*start : 8*(start+dataWords)]
	var a wire.Ack
	if dataWords >= 1 {
		a.DurableSeq = binary.LittleEndian.Uint64(data) // field 0, bytes 0..7
	}
	if dataWords >= 2 {
		a.Closed = data[8]&1 != 0 // field 1, bit 64
	}
	return a, true
}
