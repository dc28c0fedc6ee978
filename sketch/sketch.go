// Package sketch wraps DDSketch, the mergeable quantile sketch readout keeps
// per aggregate row: quantiles estimated from it are within RelativeAccuracy
// of the exact value, and sketches of disjoint sets merge into the sketch of
// their union, so partial rows can be combined in any order.
package sketch

import (
	"fmt"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// RelativeAccuracy is the guarantee of every sketch readout writes: a
// quantile q is reported as a value within 1% of a true value at rank q.
const RelativeAccuracy = 0.01

var indexMapping = mustMapping()

func mustMapping() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err) // constant input; cannot fail
	}
	return m
}

// Sketch is a quantile sketch of non-negative values. The zero value is not
// usable; call New. Not safe for concurrent use.
type Sketch struct {
	dd *ddsketch.DDSketch
}

// New returns an empty sketch. Its store is paginated so that a sketch of a
// few values stays small: most aggregate rows see few requests.
func New() *Sketch {
	return &Sketch{dd: ddsketch.NewDDSketch(indexMapping, store.NewBufferedPaginatedStore(), store.NewBufferedPaginatedStore())}
}

// Add records one value. Negative and NaN values are recorded as 0: the
// durations readout sketches cannot be negative.
func (s *Sketch) Add(v float64) {
	if !(v > 0) {
		v = 0
	}
	_ = s.dd.Add(v) // cannot fail for finite non-negative input within range
}

// Count is the number of values recorded.
func (s *Sketch) Count() float64 { return s.dd.GetCount() }

// Merge adds every value recorded in o to s.
func (s *Sketch) Merge(o *Sketch) error { return s.dd.MergeWith(o.dd) }

// Quantile returns the estimated value at rank q in [0, 1], or 0 for an
// empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	if s.dd.IsEmpty() {
		return 0
	}
	v, err := s.dd.GetValueAtQuantile(q)
	if err != nil {
		return 0
	}
	return v
}

// AppendBinary appends the sketch's compact binary encoding (DDSketch's own
// format, index mapping included) to b.
func (s *Sketch) AppendBinary(b []byte) []byte {
	s.dd.Encode(&b, false)
	return b
}

// Decode parses a sketch written by AppendBinary. An empty input is an empty
// sketch, so rows with no values need not carry one.
func Decode(b []byte) (*Sketch, error) {
	if len(b) == 0 {
		return New(), nil
	}
	dd, err := ddsketch.DecodeDDSketch(b, store.BufferedPaginatedStoreConstructor, nil)
	if err != nil {
		return nil, fmt.Errorf("decode sketch: %w", err)
	}
	return &Sketch{dd: dd}, nil
}

// MergeBinary adds the values of an encoded sketch to s without building an
// intermediate sketch.
func (s *Sketch) MergeBinary(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := s.dd.DecodeAndMergeWith(b); err != nil {
		return fmt.Errorf("merge sketch: %w", err)
	}
	return nil
}
