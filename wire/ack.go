package wire

import (
	"errors"
	"fmt"
	"io"
)

// maxAckSize bounds one acknowledgement frame that ReadAcks accepts. An Ack
// is 32 bytes; the slack allows a newer forwarder to add fields.
const maxAckSize = 1 << 10

// ackWords is the segment of an Ack as AppendAck and go-capnp write it: the
// root pointer and the struct.
const ackWords = 1 + ackDataWords + ackPtrWords

// AppendAck appends a to dst as one stream-framed Ack message, the same
// bytes as EncodeAck, and returns the extended slice. It allocates only
// when dst lacks the capacity for 32 more bytes.
func AppendAck(dst []byte, a Ack) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader+8*ackWords)...)
	b := dst[start:]
	le.PutUint32(b[0:], 0) // segment count - 1
	le.PutUint32(b[4:], ackWords)
	putPointer(b[frameHeader:], structPointer(0, ackDataWords, ackPtrWords))
	d := (*[8 * ackDataWords]byte)(b[frameHeader+8:])
	le.PutUint64(d[ackDurableSeq:], a.DurableSeq)
	d[ackClosedByte] = bit(a.Closed, ackClosedBit)
	return dst
}

// ReadAcks reads stream-framed Ack messages from r and calls fn with each,
// until r fails or a frame is invalid: the emitter's side of its
// connection. The bytes come from the peer and are untrusted: a frame that
// claims more than 1 KiB is refused before it is read. It returns io.EOF
// when the stream ends cleanly between frames.
func ReadAcks(r io.Reader, fn func(Ack)) error {
	buf := make([]byte, 4*maxAckSize)
	n := 0
	var readErr error
	for {
		// Take every whole frame buffered so far.
		start := 0
		for {
			size, err := FrameSize(buf[start:n], maxAckSize)
			if errors.Is(err, ErrShortFrame) || (err == nil && size > n-start) {
				break
			}
			if err != nil {
				return fmt.Errorf("read ack: %w", err)
			}
			frame := buf[start : start+size]
			a, ok := decodeAckFast(frame)
			if !ok {
				if a, err = DecodeAck(frame); err != nil {
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
// encoder writes it (one segment, the root a near struct pointer within
// it), without allocating: go-capnp's reader costs about 1.5 KB of garbage
// per message, and acks come once per write. It reports false for anything
// else (far pointers included), which the caller hands to the reference
// decoder, DecodeAck. frame is a whole frame (FrameSize checked it); every
// offset is bounds-checked here.
func decodeAckFast(frame []byte) (Ack, bool) {
	if len(frame) < frameHeader+8 || le.Uint32(frame) != 0 {
		return Ack{}, false
	}
	seg := frame[frameHeader:]
	words := uint64(le.Uint32(frame[4:]))
	if uint64(len(seg)) != 8*words {
		return Ack{}, false
	}
	root := readPointer(seg)
	if root == 0 || root.kind() != ptrStruct {
		return Ack{}, false // null, or not a struct pointer
	}
	start := 1 + root.offset()
	dataWords := int64(root.dataWords())
	ptrWords := int64(root.ptrWords())
	if start < 1 || start+dataWords+ptrWords > int64(words) {
		return Ack{}, false
	}
	data := seg[8*start : 8*(start+dataWords)]
	// Fields an older writer's smaller struct lacks read as their defaults.
	var a Ack
	if len(data) >= ackDurableSeq+8 {
		a.DurableSeq = le.Uint64(data[ackDurableSeq:])
	}
	if len(data) > ackClosedByte {
		a.Closed = data[ackClosedByte]&(1<<ackClosedBit) != 0
	}
	return a, true
}
