package parquetcheck

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// ReadRows checks the file in r (size bytes) with Open and reads every row
// of it as T. parquet-go panics on some malformed input that the check
// lets through: that is an error too.
func ReadRows[T any](r io.ReaderAt, size int64) (rows []T, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("%v", p)
		}
	}()
	pf, err := Open(r, size)
	if err != nil {
		return nil, err
	}
	pr := parquet.NewGenericReader[T](pf)
	defer pr.Close()
	buf := make([]T, 512)
	for {
		n, err := pr.Read(buf)
		rows = append(rows, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
