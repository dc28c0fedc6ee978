package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits on stream framing. A frame is a segment table (a count and one
// size per segment, padded to 8 bytes) followed by the segments.
const (
	// MaxMessageSize is the per-event limit of the contract between
	// forwarder and collector: the largest event message, framing
	// included, that the collector accepts in a batch. One event above it
	// makes the collector refuse the whole batch (400), so the forwarder
	// refuses a --max-message-size above it at start and never ships a
	// larger event. Raising it means upgrading every collector first.
	MaxMessageSize = 64 << 10
	// DefaultMaxMessageSize is the default limit of emitters and
	// forwarders: the contract limit itself. Either may be set lower; the
	// forwarder refuses higher.
	DefaultMaxMessageSize = MaxMessageSize
	// MaxSegments bounds the segment table; readout writers use one segment.
	MaxSegments = 64
)

// ErrShortFrame means more bytes are needed to know or hold the frame.
var ErrShortFrame = errors.New("wire: short frame")

// FrameError is a framing violation: the stream cannot be resynchronised
// after one, so a reader must drop the connection (or reject the batch).
type FrameError struct {
	Reason string // a short metric-friendly word: "segments", "size", "empty"
	Detail string
}

func (e *FrameError) Error() string { return "wire: bad frame (" + e.Reason + "): " + e.Detail }

// HeaderSize returns the size of the segment table of the frame starting at
// b, or ErrShortFrame when b is too short to hold the segment count.
func HeaderSize(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, ErrShortFrame
	}
	n := uint64(binary.LittleEndian.Uint32(b)) + 1
	if n > MaxSegments {
		return 0, &FrameError{"segments", fmt.Sprintf("%d segments, limit %d", n, MaxSegments)}
	}
	return int((4 + 4*n + 7) &^ 7), nil
}

// FrameSize returns the total size in bytes of the frame at the start of b,
// reading only its segment table, so a peer that claims a huge message is
// refused before anything is allocated. It returns ErrShortFrame when b does
// not yet hold the whole segment table, and a *FrameError when the table is
// invalid or the frame would exceed maxSize.
func FrameSize(b []byte, maxSize int) (int, error) {
	hs, err := HeaderSize(b)
	if err != nil {
		return 0, err
	}
	if hs > maxSize {
		return 0, &FrameError{"size", fmt.Sprintf("segment table of %d bytes exceeds %d", hs, maxSize)}
	}
	if len(b) < hs {
		return 0, ErrShortFrame
	}
	n := int(binary.LittleEndian.Uint32(b)) + 1
	total := uint64(hs)
	for i := 0; i < n; i++ {
		total += 8 * uint64(binary.LittleEndian.Uint32(b[4+4*i:]))
		if total > uint64(maxSize) {
			return 0, &FrameError{"size", fmt.Sprintf("message exceeds %d bytes", maxSize)}
		}
	}
	if total == uint64(hs) {
		return 0, &FrameError{"empty", "message has no words"}
	}
	return int(total), nil
}

// Frames calls fn with each whole frame in data, in order. It stops at the
// first error fn returns. Trailing bytes that do not form a whole frame are a
// *FrameError.
func Frames(data []byte, maxSize int, fn func(frame []byte) error) error {
	for len(data) > 0 {
		n, err := FrameSize(data, maxSize)
		if err == ErrShortFrame || (err == nil && n > len(data)) {
			return &FrameError{"truncated", fmt.Sprintf("%d trailing bytes do not form a frame", len(data))}
		}
		if err != nil {
			return err
		}
		if err := fn(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
