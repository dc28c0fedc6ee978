package parquetcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bounds on Thrift structures (the footer and page headers of a Parquet
// file) before parquet-go decodes them: its decoder sizes a list from the
// declared element count and a byte string from the declared length before
// reading either, so a few bytes could make it allocate gigabytes.
const (
	maxThriftDepth = 32
	// thriftStructCost is what one struct element of a list may cost once
	// decoded: more than the largest struct of parquet-go's format package
	// (ColumnChunk, 560 bytes).
	thriftStructCost = 1024
	thriftValueCost  = 32
)

// errThriftShort means the structure runs past the bytes given; the caller
// may retry with more bytes when there are more.
var errThriftShort = errors.New("truncated thrift structure")

// thriftWalker checks one Thrift compact-protocol struct without decoding
// it: every list, set, map and byte string must fit in the bytes that
// remain, nesting is bounded, and the memory its lists would take once
// decoded is added up in cost.
type thriftWalker struct {
	b    []byte
	off  int
	cost int64
}

// walkThrift checks the struct at the start of b and returns its length and
// the estimated memory its decoding takes.
func walkThrift(b []byte) (n int, cost int64, err error) {
	w := thriftWalker{b: b}
	if err := w.structure(0); err != nil {
		return 0, 0, err
	}
	return w.off, w.cost, nil
}

func (w *thriftWalker) left() int { return len(w.b) - w.off }

func (w *thriftWalker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, errThriftShort
	}
	c := w.b[w.off]
	w.off++
	return c, nil
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(w.left()) {
		return errThriftShort
	}
	w.off += int(n)
	return nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	u, k := binary.Uvarint(w.b[w.off:])
	if k == 0 {
		return 0, errThriftShort
	}
	if k < 0 {
		return 0, errors.New("thrift varint overflows 64 bits")
	}
	w.off += k
	return u, nil
}

func (w *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("thrift structure nested deeper than %d", maxThriftDepth)
	}
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == 0 { // STOP
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows as a varint
			if _, err := w.uvarint(); err != nil {
				return err
			}
		}
		if err := w.value(h&0x0f, depth, false); err != nil {
			return err
		}
	}
}

// value skips one value of compact type typ. Booleans are in the field
// header of a struct field but take a byte of their own inside a list.
func (w *thriftWalker) value(typ byte, depth int, inList bool) error {
	switch typ {
	case 1, 2: // bool
		if inList {
			return w.skip(1)
		}
		return nil
	case 3: // byte
		return w.skip(1)
	case 4, 5, 6: // i16, i32, i64
		_, err := w.uvarint()
		return err
	case 7: // double
		return w.skip(8)
	case 8: // binary or string
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case 9, 10: // list, set
		h, err := w.byte()
		if err != nil {
			return err
		}
		size, elem := uint64(h>>4), h&0x0f
		if size == 15 {
			if size, err = w.uvarint(); err != nil {
				return err
			}
		}
		return w.elements(size, elem, depth)
	case 11: // map
		size, err := w.uvarint()
		if err != nil || size == 0 {
			return err
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		if size > uint64(w.left())/2 {
			return errThriftShort
		}
		w.cost += int64(size) * 2 * thriftValueCost
		for range size {
			if err := w.value(kv>>4, depth+1, true); err != nil {
				return err
			}
			if err := w.value(kv&0x0f, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case 12: // struct
		return w.structure(depth + 1)
	}
	return fmt.Errorf("unknown thrift type %d", typ)
}

// elements skips a list of size elements of type elem; each takes at least
// one byte, so a size beyond the bytes left is a lie.
func (w *thriftWalker) elements(size uint64, elem byte, depth int) error {
	if size > uint64(w.left()) {
		return errThriftShort
	}
	per := int64(thriftValueCost)
	if elem == 12 {
		per = thriftStructCost
	}
	w.cost += int64(size) * per
	for range size {
		if err := w.value(elem, depth+1, true); err != nil {
			return err
		}
	}
	return nil
}
