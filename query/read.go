package query

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/readout-dev/readout/internal/parquetcheck"
)

// readBatch is how many rows are decoded at a time: files are streamed, not
// loaded whole, so a large file costs a batch of memory.
const readBatch = 512

// CorruptError is a file that cannot be read as the table it should hold.
type CorruptError struct {
	Path string
	Err  error
}

// Error is one line, whatever the cause says, so that a command can print
// it as its whole complaint.
func (e *CorruptError) Error() string {
	return strings.ReplaceAll(fmt.Sprintf("corrupt file %s: %v", e.Path, e.Err), "\n", " ")
}
func (e *CorruptError) Unwrap() error { return e.Err }

// eachRow streams the rows of one Parquet file into fn, a batch at a time;
// fn must not retain the slice. Any failure to decode the file, including a
// panic inside the Parquet library on malformed input, comes back as a
// *CorruptError naming the file. parquetcheck.Open checks the file first,
// so that a damaged or hostile one is refused with bounded memory (at most
// parquetcheck.MaxReadMemory per file being read) instead of making the
// Parquet library allocate what its headers declare.
func eachRow[T any](path string, fn func(rows []T) error) error {
	_, err := readRows(path, nil, fn)
	return err
}

// readRows is eachRow that first asks filter, from its column statistics,
// whether each row group may hold a row of interest, and reads only those
// that may. It returns how many row groups it skipped.
func readRows[T any](path string, filter rowGroupFilter, fn func(rows []T) error) (skipped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = &CorruptError{Path: path, Err: fmt.Errorf("%v", p)}
		}
	}()
	pf, err := parquetcheck.Open(f, st.Size())
	if err != nil {
		return 0, &CorruptError{Path: path, Err: err}
	}
	buf := make([]T, readBatch)
	for _, rg := range pf.RowGroups() {
		if !filter.keep(pf, rg) {
			skipped++
			continue
		}
		if err := readRowGroup(path, rg, buf, fn); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

func readRowGroup[T any](path string, rg parquet.RowGroup, buf []T, fn func(rows []T) error) error {
	r := parquet.NewGenericRowGroupReader[T](rg)
	defer r.Close()
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := fn(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &CorruptError{Path: path, Err: err}
		}
	}
}
