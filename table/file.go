package table

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/readout-dev/readout/internal/atomicfile"
	"github.com/readout-dev/readout/internal/parquetcheck"
)

// maxRowsPerRowGroup caps row groups so readers can skip and parallelise;
// parquet-go has no cap of its own.
const maxRowsPerRowGroup = 64 << 10

// PartitionDir is the inference table's folder for rows whose window
// starts at t: OUT/inference/date=YYYY-MM-DD/hour=HH (UTC).
func PartitionDir(out string, t time.Time) string { return Inference.PartitionDir(out, t) }

// WriteInference writes rows to a new Parquet file at path, atomically.
func WriteInference(path string, rows []InferenceRow) error {
	return writeAtomic(path, rows)
}

// WriteAudit writes rows to a Parquet file at path, atomically replacing
// any file already there.
func WriteAudit(path string, rows []AuditRow) error {
	return writeAtomic(path, rows)
}

// ReadInference reads every row of one inference file.
func ReadInference(path string) ([]InferenceRow, error) {
	return readAll[InferenceRow](path)
}

// ReadAudit reads every row of one audit file.
func ReadAudit(path string) ([]AuditRow, error) {
	return readAll[AuditRow](path)
}

// Write writes rows of any table to a new Parquet file at path, atomically.
func Write[T any](path string, rows []T) error { return writeAtomic(path, rows) }

// Read reads every row of one file of any table.
func Read[T any](path string) ([]T, error) { return readAll[T](path) }

// readAll reads a whole file through parquetcheck.Open, so that a damaged
// one is an error rather than an unbounded allocation.
func readAll[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	rows, err := parquetcheck.ReadRows[T](f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// writeAtomic makes a file appear whole or not at all (design promise 6):
// write a temporary file beside the target, fsync it, rename it into place,
// then fsync the directory so the rename itself survives a crash. Readers
// skip names starting with '.', so a temporary file left by a crash is never
// read, and its name does not end in .parquet, so no reader's glob matches it.
func writeAtomic[T any](path string, rows []T) (err error) {
	dir := filepath.Dir(path)
	if err := atomicfile.MkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := parquet.NewGenericWriter[T](f,
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(maxRowsPerRowGroup),
		parquet.CreatedBy("readout", "", ""),
	)
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("finish %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	// From here on the file is under its final name even if this fails:
	// the error says so (atomicfile.ErrInPlace), for the caller's cleanup.
	return atomicfile.RenamedSyncDir(dir)
}
