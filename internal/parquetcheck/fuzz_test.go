package parquetcheck_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/parquet-go/parquet-go/format"

	"github.com/readout-dev/readout/internal/parquetcheck"
	"github.com/readout-dev/readout/table"
)

// FuzzOpen feeds arbitrary bytes to Open and then to parquet-go reading
// every row, as a damaged or foreign file under OUT would: whatever the
// bytes, the result is rows or an error, with memory bounded (the fuzz
// worker runs under scripts/fuzz.sh's memory cap) and in bounded time.
func FuzzOpen(f *testing.F) {
	valid := sampleFile(f)
	f.Add(valid)
	lz4 := splitFile(f, valid)
	lz4.md.RowGroups[0].Columns[lz4.column(f, "streamed")].MetaData.Codec = format.Lz4Raw
	f.Add(lz4.join(f))
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/3] ^= 0x40
	f.Add(flipped)
	f.Add(valid[:len(valid)/2])
	f.Add(binary.LittleEndian.AppendUint32([]byte("PAR1\x00"), 1))
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parquetcheck.ReadRows[table.InferenceRow](bytes.NewReader(data), int64(len(data)))
		if err == nil && int64(len(rows)) > int64(len(data))*parquetcheck.MaxRowsPerByte {
			t.Fatalf("%d rows from %d bytes", len(rows), len(data))
		}
	})
}
