package window

import (
	"math"
	"math/rand"
	"testing"

	"github.com/readout-dev/readout/sketch"
)

// TestBinsMatchSketch: bins must give the very sketch package sketch would,
// sparse and dense, and decode with sketch.Decode.
func TestBinsMatchSketch(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	gens := map[string]func() float64{
		"few values":  func() float64 { return float64(r.Intn(5)) * 10 },
		"spread":      func() float64 { return r.ExpFloat64() * 100 },
		"tiny and 0":  func() float64 { return float64(r.Intn(3)) / 1000 },
		"wide ranges": func() float64 { return math.Pow(10, r.Float64()*9-3) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{1, 10, 1000} {
				var b bins
				ref := sketch.New()
				for i := 0; i < n; i++ {
					v := gen()
					b.add(v)
					ref.Add(v)
				}
				if b.count() != uint64(n) {
					t.Fatalf("count %d; want %d", b.count(), n)
				}
				var enc []byte
				b.ddsketch().Encode(&enc, false)
				got, err := sketch.Decode(enc)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
					if g, w := got.Quantile(q), ref.Quantile(q); g != w {
						t.Fatalf("n=%d q=%v: got %v; want %v", n, q, g, w)
					}
				}
			}
		})
	}
}
