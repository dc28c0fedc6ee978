package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// The codec benchmarks encode and decode the same realistic inference events
// as Cap'n Proto frames and as JSON lines, to show what the wire format saves
// a forwarder per event. Each reports bytes/event so size is compared too.

const benchEvents = 1024

func benchSet(b *testing.B) []wire.Event {
	b.Helper()
	return Events(benchEvents, Emitters(4, 1), 1, time.Unix(1_800_000_000, 0))
}

func reportSize(b *testing.B, total int) {
	b.ReportMetric(float64(total)/benchEvents, "bytes/event")
}

func BenchmarkCodecCapnpEncode(b *testing.B) {
	evs := benchSet(b)
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		size := 0
		for i := 0; b.Loop(); i++ {
			f, err := wire.EncodeEventCapnp(&evs[i%benchEvents])
			if err != nil {
				b.Fatal(err)
			}
			if i < benchEvents {
				size += len(f)
			}
		}
		reportSize(b, size)
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		size := 0
		for i := 0; b.Loop(); i++ {
			buf = wire.AppendEvent(buf[:0], &evs[i%benchEvents])
			if i < benchEvents {
				size += len(buf)
			}
		}
		reportSize(b, size)
	})
}

func BenchmarkCodecJSONEncode(b *testing.B) {
	evs := benchSet(b)
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	size := 0
	for i := 0; b.Loop(); i++ {
		var err error
		if buf, err = AppendJSONLine(buf[:0], &evs[i%benchEvents]); err != nil {
			b.Fatal(err)
		}
		if i < benchEvents {
			size += len(buf)
		}
	}
	reportSize(b, size)
}

func BenchmarkCodecCapnpDecode(b *testing.B) {
	evs := benchSet(b)
	frames := make([][]byte, len(evs))
	size := 0
	for i := range evs {
		frames[i] = wire.AppendEvent(nil, &evs[i])
		size += len(frames[i])
	}
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := wire.DecodeEventCapnp(frames[i%benchEvents]); err != nil {
				b.Fatal(err)
			}
		}
		reportSize(b, size)
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		var ev wire.Event
		for i := 0; b.Loop(); i++ {
			if err := wire.DecodeEvent(frames[i%benchEvents], &ev); err != nil {
				b.Fatal(err)
			}
		}
		reportSize(b, size)
	})
}

func BenchmarkCodecJSONDecode(b *testing.B) {
	evs := benchSet(b)
	lines := make([][]byte, len(evs))
	size := 0
	for i := range evs {
		var err error
		if lines[i], err = AppendJSONLine(nil, &evs[i]); err != nil {
			b.Fatal(err)
		}
		size += len(lines[i])
	}
	b.ReportAllocs()
	var ev JSONEvent
	for i := 0; b.Loop(); i++ {
		if err := json.Unmarshal(lines[i%benchEvents], &ev); err != nil {
			b.Fatal(err)
		}
	}
	reportSize(b, size)
}
