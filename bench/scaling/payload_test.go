package scaling

import (
	"testing"

	"github.com/readout-dev/readout/wire"
)

func TestStreamsSizes(t *testing.T) {
	tests := []struct {
		name       string
		frameBytes int
		lo, hi     float64 // mean frame bytes wanted
	}{
		{"natural", 0, 150, 400},
		{"smallest the schema allows", 1, 200, 232},
		{"300 B", 300, 290, 310},
		{"1 KiB", 1024, 1010, 1030},
		{"4 KiB", 4096, 4080, 4100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n, conns = 600, 3
			streams, perConn, err := Streams(n, conns, tt.frameBytes, 1)
			if err != nil {
				t.Fatal(err)
			}
			var total uint64
			var bytes int
			for c, s := range streams {
				total += perConn[c]
				bytes += len(s)
				// Every frame decodes, and seqs run 1, 2, 3, ... per stream.
				var seq uint64
				err := wire.Frames(s, wire.DefaultMaxMessageSize, func(f []byte) error {
					var ev wire.Event
					if err := wire.DecodeEvent(f, &ev); err != nil {
						return err
					}
					seq++
					if ev.Seq != seq {
						t.Fatalf("unexpected seq on stream %d; got %d; want %d", c, ev.Seq, seq)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("stream %d: %v", c, err)
				}
				if seq != perConn[c] {
					t.Fatalf("unexpected frames on stream %d; got %d; want %d", c, seq, perConn[c])
				}
			}
			if total != n {
				t.Fatalf("unexpected events; got %d; want %d", total, n)
			}
			if mean := float64(bytes) / n; mean < tt.lo || mean > tt.hi {
				t.Fatalf("unexpected mean frame size; got %.1f; want %v..%v", mean, tt.lo, tt.hi)
			}
		})
	}
	if _, _, err := Streams(2, 3, 0, 1); err == nil {
		t.Fatal("fewer events than connections: want an error")
	}
}
