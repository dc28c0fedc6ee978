package parquetcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// bytesPerValue is the memory charged per value of a page once decoded:
// the value itself (8 bytes at most for fixed-size types), a 4-byte offset
// for byte arrays and a byte per level.
const bytesPerValue = 16

// pageCheck checks the pages of one column chunk, reusing its buffers from
// page to page.
type pageCheck struct {
	codec   format.CompressionCodec
	leaf    *leaf
	hasDict bool
	head    []byte // page header bytes
	raw     []byte // page as stored
	plain   []byte // page decompressed
}

func (p *pageCheck) reset(codec format.CompressionCodec, l *leaf) {
	p.codec, p.leaf, p.hasDict = codec, l, false
}

// buffer returns *b resized to n bytes, growing it if needed.
func (p *pageCheck) buffer(b *[]byte, n int) []byte {
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return *b
}

// check validates the page whose header is h and whose bytes start at pos,
// and returns the memory decoding it takes and its number of values.
func (p *pageCheck) check(r io.ReaderAt, h *format.PageHeader, pos, end int64) (cost, values int64, err error) {
	comp, unc := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
	if comp < 0 || unc < 0 {
		return 0, 0, fmt.Errorf("negative page size (%d compressed, %d uncompressed)", comp, unc)
	}
	if comp > end-pos {
		return 0, 0, fmt.Errorf("%d-byte page overruns its column chunk by %d bytes", comp, comp-(end-pos))
	}
	var nv int64
	switch {
	case h.Type == format.DictionaryPage && h.DictionaryPageHeader.Valid:
		nv = int64(h.DictionaryPageHeader.V.NumValues)
	case h.Type == format.DataPage && h.DataPageHeader.Valid:
		nv = int64(h.DataPageHeader.V.NumValues)
	case h.Type == format.DataPageV2 && h.DataPageHeaderV2.Valid:
		nv = int64(h.DataPageHeaderV2.V.NumValues)
	default:
		return 0, 0, fmt.Errorf("unsupported page type %s", h.Type)
	}
	if nv < 0 {
		return 0, 0, fmt.Errorf("negative value count %d", nv)
	}
	cost = comp + unc + bytesPerValue*nv
	if cost > MaxReadMemory {
		return 0, 0, fmt.Errorf("page of %d values, %d bytes compressed and %d decompressed, needs more than %d MiB to decode", nv, comp, unc, MaxReadMemory>>20)
	}
	raw := p.buffer(&p.raw, int(comp))
	if _, err := r.ReadAt(raw, pos); err != nil {
		return 0, 0, fmt.Errorf("read page: %w", err)
	}
	switch h.Type {
	case format.DictionaryPage:
		err = p.dictionary(h, raw)
	case format.DataPage:
		err = p.dataV1(h, raw)
	default:
		err = p.dataV2(h, raw)
	}
	return cost, nv, err
}

func (p *pageCheck) dictionary(h *format.PageHeader, raw []byte) error {
	if enc := h.DictionaryPageHeader.V.Encoding; enc != format.Plain && enc != format.PlainDictionary {
		return fmt.Errorf("unsupported dictionary encoding %s", enc)
	}
	if _, err := p.decompress(raw, int(h.UncompressedPageSize), false); err != nil {
		return err
	}
	p.hasDict = true
	return nil
}

// dataV1 checks a version 1 data page: levels and values are compressed
// together, each level stream prefixed with its length.
func (p *pageCheck) dataV1(h *format.PageHeader, raw []byte) error {
	v := &h.DataPageHeader.V
	need := p.leaf.maxRep > 0 || p.leaf.maxDef > 0 || v.Encoding != format.Plain
	data, err := p.decompress(raw, int(h.UncompressedPageSize), need)
	if err != nil || !need {
		return err
	}
	n := int64(v.NumValues)
	levels := []struct {
		max int
		enc format.Encoding
	}{{p.leaf.maxRep, v.RepetitionLevelEncoding}, {p.leaf.maxDef, v.DefinitionLevelEncoding}}
	for _, l := range levels {
		if l.max == 0 {
			continue
		}
		if l.enc != format.RLE {
			return fmt.Errorf("unsupported level encoding %s", l.enc)
		}
		if len(data) < 4 {
			return errors.New("levels overrun the page")
		}
		size := int64(binary.LittleEndian.Uint32(data))
		if size > int64(len(data)-4) {
			return errors.New("levels overrun the page")
		}
		if err := checkRuns(data[4:4+size], bits.Len(uint(l.max)), n); err != nil {
			return fmt.Errorf("levels: %w", err)
		}
		data = data[4+size:]
	}
	return p.values(v.Encoding, data, n)
}

// dataV2 checks a version 2 data page: levels come first, uncompressed,
// their lengths in the header; the values alone may be compressed.
func (p *pageCheck) dataV2(h *format.PageHeader, raw []byte) error {
	v := &h.DataPageHeaderV2.V
	n, nulls := int64(v.NumValues), int64(v.NumNulls)
	rl, dl := int64(v.RepetitionLevelsByteLength), int64(v.DefinitionLevelsByteLength)
	if nulls < 0 || nulls > n || v.NumRows < 0 || rl < 0 || dl < 0 {
		return fmt.Errorf("bad counts (%d values, %d nulls, %d rows, levels %d and %d bytes)", n, nulls, v.NumRows, rl, dl)
	}
	if rl+dl > int64(len(raw)) || rl+dl > int64(h.UncompressedPageSize) {
		return errors.New("levels overrun the page")
	}
	if rl > 0 && p.leaf.maxRep > 0 {
		if err := checkRuns(raw[:rl], bits.Len(uint(p.leaf.maxRep)), n); err != nil {
			return fmt.Errorf("repetition levels: %w", err)
		}
	}
	if dl > 0 && p.leaf.maxDef > 0 {
		if err := checkRuns(raw[rl:rl+dl], bits.Len(uint(p.leaf.maxDef)), n); err != nil {
			return fmt.Errorf("definition levels: %w", err)
		}
	}
	data := raw[rl+dl:]
	if !v.IsCompressed.Valid || v.IsCompressed.V {
		need := v.Encoding != format.Plain
		var err error
		if data, err = p.decompress(data, int(int64(h.UncompressedPageSize)-rl-dl), need); err != nil || !need {
			return err
		}
	}
	return p.values(v.Encoding, data, n-nulls)
}

// values checks the encoded values of a data page, at most n of them: the
// run-length and delta encodings declare counts that parquet-go allocates
// before decoding, so each must stay within n.
func (p *pageCheck) values(enc format.Encoding, data []byte, n int64) error {
	switch enc {
	case format.Plain:
		return nil
	case format.PlainDictionary, format.RLEDictionary:
		if !p.hasDict {
			return errors.New("dictionary-encoded page without a dictionary page before it")
		}
		if len(data) == 0 {
			return nil
		}
		if data[0] > 32 {
			return fmt.Errorf("dictionary index bit width %d", data[0])
		}
		return checkRuns(data[1:], int(data[0]), n)
	case format.RLE:
		if p.leaf.kind != parquet.Boolean {
			return fmt.Errorf("unsupported encoding %s for a %s column", enc, p.leaf.kind)
		}
		if len(data) < 4 {
			return errors.New("run-length values overrun the page")
		}
		size := int64(binary.LittleEndian.Uint32(data))
		if size > int64(len(data)-4) {
			return errors.New("run-length values overrun the page")
		}
		return checkRuns(data[4:4+size], 1, n)
	case format.DeltaBinaryPacked, format.DeltaLengthByteArray:
		return checkDeltaCount(data, n)
	}
	return fmt.Errorf("unsupported encoding %s", enc)
}

// checkRuns walks an RLE / bit-packed hybrid stream of values bitWidth bits
// wide and fails if it holds more than n values (plus the padding of a last
// bit-packed group) or overruns its bytes. parquet-go's decoder grows its
// output to whatever count a run declares: one 6-byte run could ask for 8
// GiB.
func checkRuns(b []byte, bitWidth int, n int64) error {
	limit := uint64(n) + 7
	var total uint64
	for i := 0; i < len(b); {
		u, k := binary.Uvarint(b[i:])
		if k <= 0 {
			return errors.New("bad run header")
		}
		i += k
		count := u >> 1
		if count > limit {
			return fmt.Errorf("run of %d values in a page of %d", count, n)
		}
		var size uint64
		if u&1 == 1 { // bit-packed: count groups of 8 values, bitWidth bytes each
			count *= 8
			size = count / 8 * uint64(bitWidth)
		} else { // one value repeated count times
			size = uint64((bitWidth + 7) / 8)
		}
		if size > uint64(len(b)-i) {
			return errors.New("run overruns the page")
		}
		i += int(size)
		if total += count; total > limit {
			return fmt.Errorf("runs hold more than the page's %d values", n)
		}
	}
	return nil
}

// checkDeltaCount reads the header of a DELTA_BINARY_PACKED stream (alone,
// or the lengths of DELTA_LENGTH_BYTE_ARRAY): parquet-go allocates its total
// value count up front.
func checkDeltaCount(b []byte, n int64) error {
	if len(b) == 0 && n == 0 {
		return nil
	}
	var u uint64
	for range 3 { // block size, mini-blocks per block, total values
		var k int
		if u, k = binary.Uvarint(b); k <= 0 {
			return errors.New("bad delta header")
		}
		b = b[k:]
	}
	if u > uint64(n) {
		return fmt.Errorf("delta header declares %d values in a page of %d", u, n)
	}
	return nil
}
