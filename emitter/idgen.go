package emitter

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// idGen makes UUIDv7s for the writer goroutine without allocating:
// google/uuid's NewV7 costs about 150 ns and an allocation, which the
// writer cannot afford per event at a million events a second. The random
// bits come from a ChaCha8 stream seeded from crypto/rand. Not safe for
// concurrent use.
type idGen struct {
	rng *rand.ChaCha8
}

func newIDGen() (idGen, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return idGen{}, fmt.Errorf("seed id generator: %w", err)
	}
	return idGen{rng: rand.NewChaCha8(seed)}, nil
}

// next writes a UUIDv7 for the instant nowNs (Unix ns) into id (RFC 9562
// section 5.7, with the 12-bit rand_a holding the sub-millisecond fraction,
// method 3 of section 6.2, so ids sort by creation time).
func (g *idGen) next(id *[16]byte, nowNs int64) {
	ms := uint64(nowNs / 1e6)
	frac := uint64(nowNs%1e6) * 4096 / 1e6
	binary.BigEndian.PutUint64(id[0:], ms<<16|0x7000|frac&0x0fff)
	r := g.rng.Uint64()
	binary.BigEndian.PutUint64(id[8:], r&0x3fffffffffffffff|0x8000000000000000)
}
