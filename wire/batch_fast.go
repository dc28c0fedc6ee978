package wire

import "errors"

// The forwarder sends every byte it receives through a Batch: building each
// one with go-capnp (a Message, a zeroed Data list, a copy of the events and
// another copy in Marshal) was a tenth of its CPU. The layout of a Batch
// message is fixed up to its events, so it is written by hand here, byte for
// byte what EncodeBatch writes (batch_fast_test.go checks that against
// go-capnp on random batches):
//
//	0   segment table: 0 (one segment), segment size in words
//	8   root pointer: struct, 3 data words, 2 pointers
//	16  batchSeq, createdNs, eventCount, 4 zero bytes
//	40  forwarderId pointer: 16-byte list, one word on
//	48  events pointer: byte list, two words on (null when Events is nil)
//	56  forwarderId, 16 bytes
//	72  events, then zeros up to a word boundary
//
// Since the events come last and are copied unchanged, a caller can keep a
// batch's events BatchHeaderSize bytes into a buffer and encode it in place
// with PutBatch, without copying them.

// BatchHeaderSize is the size of an encoded Batch in front of its events.
const BatchHeaderSize = batchForwarderIDAt + 16

// Where PutBatch writes the Batch struct and the forwarder id: the root
// pointer in word 0 of the segment, the struct right after it, the
// forwarder id right after the struct.
const (
	batchData          = frameHeader + 8
	batchPtrs          = batchData + 8*batchDataWords
	batchForwarderIDAt = batchPtrs + 8*batchPtrWords
)

// maxBatchEvents is the most event bytes a Data list can hold (29 bits of
// element count); go-capnp refuses more too.
const maxBatchEvents = 1<<29 - 1

// ErrBatchTooLarge means the events do not fit in one Data list.
var ErrBatchTooLarge = errors.New("wire: batch events exceed 2^29-1 bytes")

// BatchPadding is the number of zero bytes after n bytes of events in an
// encoded Batch.
func BatchPadding(n int) int { return -n & 7 }

// BatchSize is the size of an encoded Batch holding n bytes of events.
func BatchSize(n int) int { return BatchHeaderSize + n + BatchPadding(n) }

// AppendBatch appends b encoded as one stream-framed message to dst: the
// same bytes as EncodeBatch, at the cost of one copy of the events.
func AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	if len(b.Events) > maxBatchEvents {
		return dst, ErrBatchTooLarge
	}
	n := len(dst)
	size := BatchSize(len(b.Events))
	if cap(dst)-n < size {
		grown := make([]byte, n, n+size)
		copy(grown, dst)
		dst = grown
	}
	msg := dst[n : n+size]
	copy(msg[BatchHeaderSize:], b.Events)
	if err := PutBatch(msg, b); err != nil {
		return dst, err
	}
	return dst[:n+size], nil
}

// PutBatch encodes b into msg, which must be exactly
// BatchSize(len(b.Events)) bytes long and already hold b.Events at
// msg[BatchHeaderSize:] (b.Events may alias it): it writes the header in
// front and the zero padding behind. That is how a batch assembled in place
// is sent without copying its events.
func PutBatch(msg []byte, b *Batch) error {
	n := len(b.Events)
	if n > maxBatchEvents {
		return ErrBatchTooLarge
	}
	if len(msg) != BatchSize(n) {
		return errors.New("wire: PutBatch buffer is not BatchSize(len(events)) bytes")
	}
	h := msg[:BatchHeaderSize:BatchHeaderSize]
	le.PutUint32(h[0:], 0)
	le.PutUint32(h[4:], uint32((len(msg)-frameHeader)/8))
	putPointer(h[frameHeader:], structPointer(0, batchDataWords, batchPtrWords))
	d := (*[8 * batchDataWords]byte)(h[batchData:])
	le.PutUint64(d[batchBatchSeq:], b.BatchSeq)
	le.PutUint64(d[batchCreatedNs:], uint64(b.CreatedNs))
	le.PutUint64(d[batchEventCount:], uint64(b.EventCount)) // and the 4 bytes after it
	// Pointer targets count words from the end of the pointer.
	fid := batchPtrs + 8*batchForwarderIDPtr
	putPointer(h[fid:], byteListPointer((batchForwarderIDAt-fid-8)/8, 16))
	events := batchPtrs + 8*batchEventsPtr
	if b.Events == nil {
		putPointer(h[events:], 0)
	} else {
		putPointer(h[events:], byteListPointer((BatchHeaderSize-events-8)/8, n))
	}
	copy(h[batchForwarderIDAt:], b.ForwarderID[:])
	clear(msg[BatchHeaderSize+n:])
	return nil
}
