package parquetcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// decompress decodes a page into p.plain and fails unless it comes out at
// exactly size bytes; no decoder is let past size. Once a page passed,
// parquet-go's own decoding of it is bounded by the same size. When the
// caller does not need the bytes (plain values, no levels) and the codec
// bounds its own output (a Snappy block, or a single zstd frame stating its
// size), the page is not decoded and decompress returns nil.
func (p *pageCheck) decompress(src []byte, size int, need bool) ([]byte, error) {
	if p.codec == format.Uncompressed {
		return src, nil
	}
	if size < 0 {
		return nil, fmt.Errorf("negative decompressed size %d", size)
	}
	if !need && p.codec == format.Zstd && zstdBounded(src, size) {
		return nil, nil
	}
	// Codecs that state their output size are checked before the buffer
	// is allocated.
	switch p.codec {
	case format.Snappy:
		if want, err := snappy.DecodedLen(src); err != nil || want != size {
			return nil, fmt.Errorf("decompress %s page of %d bytes: decodes to %d bytes (%v)", p.codec, size, want, err)
		}
	case format.Zstd:
		var fh zstd.Header
		if err := fh.Decode(src); err == nil && fh.HasFCS && fh.FrameContentSize != uint64(size) {
			return nil, fmt.Errorf("decompress %s page of %d bytes: frame declares %d bytes", p.codec, size, fh.FrameContentSize)
		}
	}
	// The slack spares the zstd decoder a copy into a larger buffer: it
	// over-allocates by 32 bytes when it can.
	if !need && p.codec == format.Snappy {
		return nil, nil
	}
	dst := p.buffer(&p.plain, size+zstdSlack)[:size]
	var n int
	var err error
	switch p.codec {
	case format.Snappy:
		var out []byte
		out, err = snappy.Decode(dst, src)
		n = len(out)
	case format.Gzip:
		n, err = gunzip(dst, src)
	case format.Zstd:
		var out []byte
		out, err = zstdDecoder().DecodeAll(src, dst[:0:size+zstdSlack])
		n = len(out)
	case format.Lz4Raw:
		n, err = lz4.UncompressBlock(src, dst)
	default:
		err = errors.New("unsupported codec")
	}
	if err == nil && n != size {
		err = fmt.Errorf("decodes to %d bytes", n)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s page of %d bytes: %w", p.codec, size, err)
	}
	return dst, nil
}

// gunzip inflates src into dst and fails if it holds more than len(dst).
func gunzip(dst, src []byte) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(zr, dst)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	var one [1]byte
	if m, _ := io.ReadFull(zr, one[:]); m > 0 {
		return n + m, nil
	}
	return n, nil
}

const zstdSlack = 64

// zstdBounded reports whether src is exactly one zstd frame that states
// its content size as size. Walking its block headers costs nothing next
// to decoding it, and the decoder parquet-go uses stops a frame whose
// output passes its stated size, one block (128 KiB) past it at worst.
func zstdBounded(src []byte, size int) bool {
	var h zstd.Header
	if err := h.Decode(src); err != nil || h.Skippable || !h.HasFCS || h.FrameContentSize != uint64(size) {
		return false
	}
	for i := h.HeaderSize; i+3 <= len(src); {
		bh := uint32(src[i]) | uint32(src[i+1])<<8 | uint32(src[i+2])<<16
		i += 3
		last, typ, n := bh&1 == 1, (bh>>1)&3, int(bh>>3)
		switch typ {
		case 0, 2: // raw, compressed: n bytes follow
			if n > 128<<10 {
				return false
			}
			i += n
		case 1: // RLE: one byte, repeated n times
			i++
		default:
			return false
		}
		if last {
			if h.HasCheckSum {
				i += 4
			}
			return i == len(src)
		}
	}
	return false
}

// zstdDecoder decodes whole pages, never past the capacity of the buffer
// it is given.
var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(MaxReadMemory))
	if err != nil {
		panic(fmt.Sprintf("zstd decoder: %v", err))
	}
	return d
})
