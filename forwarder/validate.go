package forwarder

import (
	"github.com/readout-dev/readout/wire"
)

// validate checks one framed event the way the collector will (the fast
// zero-allocation decoder, which accepts exactly what the go-capnp reference
// decoder accepts), and returns what the forwarder needs for
// acknowledgements. It is the one place that picks the decoder.
func validate(frame []byte) (emitterID [16]byte, seq uint64, kind wire.Kind, err error) {
	return wire.PeekEvent(frame)
}

// reason turns a framing or validation error into a metric label.
func reason(err error) string { return wire.Reason(err) }
