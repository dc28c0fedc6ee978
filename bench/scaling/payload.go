package scaling

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/readout-dev/readout/bench"
	"github.com/readout-dev/readout/wire"
)

// Streams generates n realistic events over conns emitters (one stream
// each, in seq order) as stream-framed Cap'n Proto, as the emitter writes
// them. With frameBytes > 0 each event is resized to about that many
// bytes: shrunk by emptying its container id, then its backend and a
// shorter model id, or grown by a container id of random text (so that the
// spool's compression does not see repeats). The smallest frame the schema
// allows for an inference event is about 220 bytes: a frameBytes below that
// gives the smallest. perConn is each stream's last seq.
func Streams(n, conns, frameBytes int, seed uint64) (streams [][]byte, perConn []uint64, err error) {
	if conns <= 0 || n < conns {
		return nil, nil, fmt.Errorf("streams: need at least one event per connection, got %d events for %d", n, conns)
	}
	g := bench.NewGenerator(bench.Emitters(conns, seed), seed, time.Now())
	rng := rand.New(rand.NewPCG(seed, 7))
	raw := make([]byte, 12<<10)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	filler := base64.RawStdEncoding.EncodeToString(raw)
	streams, perConn = make([][]byte, conns), make([]uint64, conns)
	var ev wire.Event
	for i := range n {
		c := g.Next(&ev)
		if frameBytes > 0 {
			resize(&ev, frameBytes, filler, rng)
		}
		if i < conns {
			streams[c] = make([]byte, 0, (n/conns+1)*wire.EncodedSize(&ev)*9/8)
		}
		perConn[c]++
		streams[c] = wire.AppendEvent(streams[c], &ev)
	}
	return streams, perConn, nil
}

// resize brings ev's frame to about want bytes (text is padded to 8-byte
// words, so within 8 bytes when growing).
func resize(ev *wire.Event, want int, filler string, rng *rand.Rand) {
	in := &ev.Inference
	in.ModelContainerID = ""
	if wire.EncodedSize(ev) > want {
		in.Backend = ""
		if len(in.ModelID) > 8 {
			in.ModelID = in.ModelID[len(in.ModelID)-8:]
		}
	}
	pad := want - wire.EncodedSize(ev)
	if pad <= 8 {
		return
	}
	pad = min(pad-8, len(filler)) // the text's own NUL and word padding
	at := rng.IntN(len(filler) - pad + 1)
	in.ModelContainerID = filler[at : at+pad]
}
