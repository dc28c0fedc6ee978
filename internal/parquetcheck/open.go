// Package parquetcheck refuses a Parquet file that would make parquet-go
// allocate without bound, before parquet-go reads it. Open walks the
// footer and every page of a file, checking each size and count it
// declares against the bytes behind it and against MaxReadMemory, and only
// then opens the file. Every file readout reads back from its output folder
// goes through it (package table, and readout query and audit in package
// query), so that a damaged or foreign file there is an error, found with
// bounded memory, rather than a process that dies. docs/fuzzing.md lists
// what is checked and why.
package parquetcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Limits on what one file may make a reader hold. parquet-go trusts the
// sizes and counts a file declares and allocates them before reading the
// bytes behind them, so a damaged or hostile file of a few kilobytes could
// make it allocate without bound; Open refuses such a file first.
const (
	// MaxReadMemory bounds the memory needed to decode one row group: for
	// each column, its dictionary and its largest page, compressed and
	// decompressed, plus 16 bytes per value (values, offsets and levels). A
	// row group readout writes (at most 65,536 rows) needs a few tens of
	// MiB at most. The footer's decoded form is held to the same bound.
	MaxReadMemory = 256 << 20
	// maxRowsPerByte bounds the rows a file may declare per byte of file: a
	// bit-width-0 dictionary page describes any number of rows in a few
	// bytes, which is memory-safe page by page but would keep a reader busy
	// for hours. readout's files hold well under one row per byte.
	maxRowsPerByte = 64
	// headerWindow is how much is read at first to find a page header; a
	// header that does not fit is read again whole.
	headerWindow = 16 << 10
)

// Open checks that the Parquet file in r (size bytes) can be read with
// bounded memory, then opens it. A file that fails the check, or that
// parquet-go cannot open, is an error that says where it went wrong; the
// caller adds the file's name. The check reads every page once (header,
// decompression and the run lengths of encoded values) without decoding
// values; it costs a few percent of a full read.
func Open(r io.ReaderAt, size int64) (*parquet.File, error) {
	footerLen, err := checkFooter(r, size)
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	c := fileChecks.Get().(*fileCheck)
	defer fileChecks.Put(c)
	c.r, c.dataEnd, c.leaves = r, size-8-footerLen, leafColumns(pf.Root())
	err = c.check(pf.Metadata(), size)
	c.r, c.leaves, c.pages.leaf = nil, nil, nil
	if err != nil {
		return nil, err
	}
	return pf, nil
}

// fileChecks keeps the page buffers of finished checks for the next file.
var fileChecks = sync.Pool{New: func() any { return new(fileCheck) }}

// checkFooter validates the magic numbers and the footer's Thrift structure
// and returns the footer's length.
func checkFooter(r io.ReaderAt, size int64) (int64, error) {
	if size < 12 {
		return 0, fmt.Errorf("%d bytes is too short for a Parquet file", size)
	}
	var head, tail [8]byte
	if _, err := r.ReadAt(head[:4], 0); err != nil {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return 0, fmt.Errorf("read trailer: %w", err)
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return 0, fmt.Errorf("not a plain Parquet file (magic %q ... %q)", head[:4], tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n == 0 || n > size-12 {
		return 0, fmt.Errorf("footer length %d does not fit in a file of %d bytes", n, size)
	}
	footer := make([]byte, n)
	if _, err := r.ReadAt(footer, size-8-n); err != nil {
		return 0, fmt.Errorf("read footer: %w", err)
	}
	used, cost, err := walkThrift(footer)
	if err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	if used != len(footer) {
		return 0, fmt.Errorf("footer: %d bytes after its metadata", len(footer)-used)
	}
	if cost > MaxReadMemory {
		return 0, fmt.Errorf("footer would take %d MiB to decode, more than %d MiB", cost>>20, MaxReadMemory>>20)
	}
	return n, nil
}

// leaf is what the page check needs to know of a column.
type leaf struct {
	path           string
	maxRep, maxDef int
	kind           parquet.Kind
}

// leafColumns lists the leaf columns in file order, the order of the column
// chunks in a row group.
func leafColumns(root *parquet.Column) []leaf {
	var leaves []leaf
	var walk func(c *parquet.Column)
	walk = func(c *parquet.Column) {
		children := c.Columns()
		if len(children) == 0 {
			leaves = append(leaves, leaf{
				path:   strings.Join(c.Path(), "."),
				maxRep: c.MaxRepetitionLevel(),
				maxDef: c.MaxDefinitionLevel(),
				kind:   c.Type().Kind(),
			})
			return
		}
		for _, child := range children {
			walk(child)
		}
	}
	walk(root)
	return leaves
}

// fileCheck walks every page of a file.
type fileCheck struct {
	r       io.ReaderAt
	dataEnd int64 // where the footer starts
	leaves  []leaf
	pages   pageCheck
}

func (c *fileCheck) check(md *format.FileMetaData, size int64) error {
	var rows int64
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		if len(rg.Columns) != len(c.leaves) {
			return fmt.Errorf("row group %d has %d columns; the schema has %d", g, len(rg.Columns), len(c.leaves))
		}
		if rg.NumRows < 0 || rg.NumRows > size*maxRowsPerByte {
			return fmt.Errorf("row group %d declares %d rows in a file of %d bytes", g, rg.NumRows, size)
		}
		rows += rg.NumRows
		if rows > size*maxRowsPerByte {
			return fmt.Errorf("%d rows in a file of %d bytes", rows, size)
		}
		var need int64
		for i := range rg.Columns {
			// parquet-go decompresses every chunk of a column with the codec
			// of its first chunk.
			codec := md.RowGroups[0].Columns[i].MetaData.Codec
			cost, err := c.chunk(&rg.Columns[i], &c.leaves[i], codec, rg.NumRows)
			if err != nil {
				return fmt.Errorf("row group %d, column %s: %w", g, c.leaves[i].path, err)
			}
			need += cost
			if need > MaxReadMemory {
				return fmt.Errorf("row group %d needs more than %d MiB to decode", g, MaxReadMemory>>20)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("the row groups hold %d rows; the footer says %d", rows, md.NumRows)
	}
	return nil
}

// decodable are the codecs whose output the check can bound. parquet-go's
// LZ4_RAW decoder retries with a doubled buffer for as long as decoding
// fails, so a damaged LZ4 page made it allocate until the process died.
var decodable = []format.CompressionCodec{format.Uncompressed, format.Snappy, format.Gzip, format.Zstd, format.Lz4Raw}

// chunk walks the pages of one column chunk the way parquet-go reads them
// and returns the memory decoding it needs: its dictionary plus its
// largest data page.
func (c *fileCheck) chunk(cc *format.ColumnChunk, l *leaf, codec format.CompressionCodec, rows int64) (int64, error) {
	m := &cc.MetaData
	if len(cc.EncryptedColumnMetadata) > 0 {
		return 0, errors.New("encrypted column")
	}
	if m.Codec != codec {
		return 0, fmt.Errorf("codec %s differs from the first row group's %s", m.Codec, codec)
	}
	if !slices.Contains(decodable, codec) {
		return 0, fmt.Errorf("unsupported codec %s", codec)
	}
	start := m.DataPageOffset
	if m.DictionaryPageOffset != 0 {
		start = m.DictionaryPageOffset
	}
	end := start + m.TotalCompressedSize
	if start < 4 || m.TotalCompressedSize < 0 || end > c.dataEnd || end < start {
		return 0, fmt.Errorf("pages at [%d, %d) lie outside the data of the file [4, %d)", start, end, c.dataEnd)
	}
	if l.maxRep == 0 && m.NumValues != rows {
		return 0, fmt.Errorf("%d values for %d rows", m.NumValues, rows)
	}
	p := &c.pages
	p.reset(codec, l)
	var values, dictCost, pageCost int64
	for n, pos := 0, start; pos < end; n++ {
		h, hlen, err := c.header(pos, end)
		if err != nil {
			return 0, fmt.Errorf("page %d at offset %d: %w", n, pos, err)
		}
		pos += int64(hlen)
		cost, nv, err := p.check(c.r, h, pos, end)
		if err != nil {
			return 0, fmt.Errorf("page %d at offset %d: %w", n, pos-int64(hlen), err)
		}
		if h.Type == format.DictionaryPage {
			dictCost += cost
		} else {
			pageCost = max(pageCost, cost)
			values += nv
		}
		pos += int64(h.CompressedPageSize)
	}
	if values != m.NumValues {
		return 0, fmt.Errorf("pages hold %d values; the footer says %d", values, m.NumValues)
	}
	return dictCost + pageCost, nil
}

// header reads, checks and decodes the page header at pos.
func (c *fileCheck) header(pos, end int64) (*format.PageHeader, int, error) {
	for window := min(headerWindow, end-pos); ; window = end - pos {
		buf := c.pages.buffer(&c.pages.head, int(window))
		if _, err := c.r.ReadAt(buf, pos); err != nil {
			return nil, 0, fmt.Errorf("read header: %w", err)
		}
		n, cost, err := walkThrift(buf)
		if errors.Is(err, errThriftShort) && window < end-pos {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("header: %w", err)
		}
		if cost > MaxReadMemory {
			return nil, 0, fmt.Errorf("header would take %d MiB to decode", cost>>20)
		}
		h := new(format.PageHeader)
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), buf[:n], h); err != nil {
			return nil, 0, fmt.Errorf("header: %w", err)
		}
		return h, n, nil
	}
}
