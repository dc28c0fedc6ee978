package parquetcheck_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/readout-dev/readout/internal/parquetcheck"
	"github.com/readout-dev/readout/table"
)

// sampleFile is a valid inference file with dictionary-encoded text columns
// and delta-encoded sketches.
func sampleFile(t testing.TB) []byte {
	t.Helper()
	ws := time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC)
	var rows []table.InferenceRow
	for i := range 40 {
		rows = append(rows, table.InferenceRow{
			WindowStart: ws, WindowSeconds: 60, ModelID: []string{"m1", "m2", "m3"}[i%3], AccountID: uint64(i),
			RequestSource: "worker", Backend: "vllm", Requests: int64(i), RequestTimeMsSketch: []byte{1, 2, byte(i)},
		})
	}
	path := filepath.Join(t.TempDir(), "x.parquet")
	if err := table.WriteInference(path, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parquetFile is a file taken apart so that a test can damage it: the
// bytes before the footer, and the footer decoded.
type parquetFile struct {
	data []byte
	md   format.FileMetaData
}

func splitFile(t testing.TB, b []byte) *parquetFile {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	f := &parquetFile{data: b[:len(b)-8-n]}
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &f.md); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *parquetFile) join(t testing.TB) []byte {
	t.Helper()
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &f.md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), f.data...), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// column finds a column chunk of row group 0 by name.
func (f *parquetFile) column(t testing.TB, name string) int {
	t.Helper()
	for i, c := range f.md.RowGroups[0].Columns {
		if strings.Join(c.MetaData.PathInSchema, ".") == name {
			return i
		}
	}
	t.Fatalf("no column %s", name)
	return 0
}

// editPages rewrites the pages of one column chunk of row group 0: edit
// gets each page's header and stored bytes and returns the new bytes. The
// offsets of the chunks after it move to match.
func (f *parquetFile) editPages(t *testing.T, col int, edit func(h *format.PageHeader, payload []byte) []byte) {
	t.Helper()
	m := &f.md.RowGroups[0].Columns[col].MetaData
	start := m.DataPageOffset
	if m.DictionaryPageOffset != 0 {
		start = m.DictionaryPageOffset
	}
	end := start + m.TotalCompressedSize
	var chunk []byte
	dataOffset := int64(-1)
	for pos := start; pos < end; {
		n, _, err := parquetcheck.WalkThrift(f.data[pos:end])
		if err != nil {
			t.Fatal(err)
		}
		var h format.PageHeader
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), f.data[pos:pos+int64(n)], &h); err != nil {
			t.Fatal(err)
		}
		payload := f.data[pos+int64(n) : pos+int64(n)+int64(h.CompressedPageSize)]
		pos += int64(n) + int64(h.CompressedPageSize)
		payload = edit(&h, append([]byte(nil), payload...))
		header, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != format.DictionaryPage && dataOffset < 0 {
			dataOffset = start + int64(len(chunk))
		}
		chunk = append(append(chunk, header...), payload...)
	}
	delta := int64(len(chunk)) - m.TotalCompressedSize
	f.data = append(append(append([]byte(nil), f.data[:start]...), chunk...), f.data[end:]...)
	m.TotalCompressedSize += delta
	m.DataPageOffset = dataOffset
	for i := range f.md.RowGroups[0].Columns {
		if o := &f.md.RowGroups[0].Columns[i].MetaData; i != col && o.DataPageOffset > start {
			o.DataPageOffset += delta
			if o.DictionaryPageOffset != 0 {
				o.DictionaryPageOffset += delta
			}
		}
	}
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// dataPages applies edit to data pages only.
func dataPages(edit func(h *format.PageHeader, payload []byte) []byte) func(h *format.PageHeader, payload []byte) []byte {
	return func(h *format.PageHeader, payload []byte) []byte {
		if h.Type == format.DictionaryPage {
			return payload
		}
		return edit(h, payload)
	}
}

// TestOpenHostile damages a valid file in the ways that made parquet-go
// allocate without bound, and checks that Open refuses each one, says why,
// and allocates little while doing so.
func TestOpenHostile(t *testing.T) {
	valid := sampleFile(t)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, f *parquetFile)
		want   string
	}{
		{"lz4 codec on zstd pages", func(t *testing.T, f *parquetFile) {
			// The fuzzer's finding: one bit turns ZSTD (6) into LZ4_RAW (7),
			// and parquet-go's LZ4 decoder doubled its buffer until the
			// process ran out of memory.
			f.md.RowGroups[0].Columns[f.column(t, "streamed")].MetaData.Codec = format.Lz4Raw
		}, "decompress LZ4_RAW page"},
		{"2 GiB uncompressed page size", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				h.UncompressedPageSize = math.MaxInt32
				return p
			}))
		}, "needs more than 256 MiB"},
		{"2 GiB compressed page size", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				h.CompressedPageSize = math.MaxInt32 - 1
				return p
			}))
		}, "overruns its column chunk"},
		{"uncompressed size larger than the page decodes to", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				h.UncompressedPageSize += 100 << 20
				return p
			}))
		}, "frame declares"},
		{"zstd frame declaring 60 GiB", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				// Single-segment frame header with an 8-byte content size.
				frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
				frame = binary.LittleEndian.AppendUint64(frame, 60<<30)
				frame = append(frame, 0x01, 0x00, 0x00) // last raw block of 0 bytes
				h.CompressedPageSize = int32(len(frame))
				return frame
			}))
		}, "decompress ZSTD page"},
		{"second zstd frame after one of the stated size", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				p = append(p, zstdBytes(t, make([]byte, 8<<20))...)
				h.CompressedPageSize = int32(len(p))
				return p
			}))
		}, "decompress ZSTD page"},
		{"dictionary run of 2^31 values", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "model_id"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				values := binary.AppendUvarint([]byte{0}, uint64(math.MaxInt32)<<1) // bit width 0, one run
				z := zstdBytes(t, values)
				h.UncompressedPageSize, h.CompressedPageSize = int32(len(values)), int32(len(z))
				return z
			}))
		}, "run of 2147483647 values"},
		{"delta lengths declaring 2^31 values", func(t *testing.T, f *parquetFile) {
			f.editPages(t, f.column(t, "request_time_ms_sketch"), dataPages(func(h *format.PageHeader, p []byte) []byte {
				values := binary.AppendUvarint(binary.AppendUvarint(binary.AppendUvarint(nil, 128), 4), math.MaxInt32)
				values = append(values, 0)
				z := zstdBytes(t, values)
				h.UncompressedPageSize, h.CompressedPageSize = int32(len(values)), int32(len(z))
				return z
			}))
		}, "delta header declares 2147483647 values"},
		{"billions of rows", func(t *testing.T, f *parquetFile) {
			f.md.NumRows = 1 << 40
			f.md.RowGroups[0].NumRows = 1 << 40
		}, "declares 1099511627776 rows"},
		{"page index past the end", func(t *testing.T, f *parquetFile) {
			f.md.RowGroups[0].Columns[0].MetaData.DataPageOffset = 1 << 40
		}, "outside the data of the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := splitFile(t, valid)
			tc.damage(t, f)
			b := f.join(t)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := parquetcheck.Open(bytes.NewReader(b), int64(len(b)))
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error; got %v; want one containing %q", err, tc.want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%v; allocated %d KiB", err, alloc>>10)
			if alloc > 8<<20 {
				t.Fatalf("refusing the file allocated %d MiB; want under 8", alloc>>20)
			}
		})
	}
}

// TestOpenHostileFooter damages the footer's Thrift encoding itself: a list
// that declares more elements than there are bytes, which parquet-go would
// allocate before noticing.
func TestOpenHostileFooter(t *testing.T) {
	valid := sampleFile(t)
	n := int(binary.LittleEndian.Uint32(valid[len(valid)-8:]))
	footer := valid[len(valid)-8-n : len(valid)-8]
	// FileMetaData field 2 (schema) is a list of structs; its header is
	// 0x19 (field delta 1, list) then 0xfc (size 15+: varint follows, structs).
	i := bytes.Index(footer, []byte{0x19, 0xfc})
	if i < 0 {
		t.Fatal("schema list not found in footer")
	}
	for _, tc := range []struct {
		name  string
		patch func(f []byte) []byte
		want  string
	}{
		{"list of 2^31 structs", func(f []byte) []byte {
			// Replace the size varint with 2^31-1 (5 bytes).
			_, k := binary.Uvarint(f[i+2:])
			out := append(append([]byte(nil), f[:i+2]...), binary.AppendUvarint(nil, math.MaxInt32)...)
			return append(out, f[i+2+k:]...)
		}, "truncated thrift structure"},
		{"truncated", func(f []byte) []byte { return f[:len(f)/2] }, "truncated thrift structure"},
		{"trailing bytes", func(f []byte) []byte { return append(append([]byte(nil), f...), 0, 0) }, "bytes after its metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.patch(footer)
			b := append(append([]byte(nil), valid[:len(valid)-8-n]...), f...)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, "PAR1"...)
			_, err := parquetcheck.Open(bytes.NewReader(b), int64(len(b)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unexpected error; got %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestOpenValid: the check passes the files readout writes, and a file
// rebuilt by the test helpers without damage.
func TestOpenValid(t *testing.T) {
	valid := sampleFile(t)
	rebuilt := splitFile(t, valid)
	rebuilt.editPages(t, rebuilt.column(t, "model_id"), func(h *format.PageHeader, p []byte) []byte { return p })
	for name, b := range map[string][]byte{"written": valid, "rebuilt": rebuilt.join(t)} {
		pf, err := parquetcheck.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if pf.NumRows() != 40 {
			t.Fatalf("%s: unexpected rows; got %d; want 40", name, pf.NumRows())
		}
	}
}

// TestReadOutgrownZstdFrame: a page that is one zstd frame stating the
// page's size passes the check without being decoded; if its blocks hold
// more than they state, the decoder stops one block past the stated size.
func TestReadOutgrownZstdFrame(t *testing.T) {
	f := splitFile(t, sampleFile(t))
	f.editPages(t, f.column(t, "requests"), dataPages(func(h *format.PageHeader, p []byte) []byte {
		// A 1 MiB window, then a 2-byte content size (stored minus 256).
		frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x40, 0x50, byte(h.UncompressedPageSize - 256), byte((h.UncompressedPageSize - 256) >> 8)}
		for i := range 1000 {
			bh := uint32(128<<10)<<3 | 1<<1 // RLE block of 128 KiB
			if i == 999 {
				bh |= 1
			}
			frame = append(frame, byte(bh), byte(bh>>8), byte(bh>>16), 0)
		}
		h.CompressedPageSize = int32(len(frame))
		h.CRC = 0 // or parquet-go stops at the checksum, before decoding
		return frame
	}))
	path := filepath.Join(t.TempDir(), "x.parquet")
	if err := os.WriteFile(path, f.join(t), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := table.ReadInference(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("unexpected error; got %v; want one naming %s", err, path)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%v; allocated %d KiB", err, alloc>>10)
	if alloc > 8<<20 {
		t.Fatalf("reading the file allocated %d MiB; want under 8 (the frame would make 125 MiB)", alloc>>20)
	}
}
