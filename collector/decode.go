package collector

import "github.com/readout-dev/readout/wire"

// decodeEvent is the one place the collector decodes an event frame: the
// fast zero-copy decoder, whose strings alias frame.
func decodeEvent(frame []byte, ev *wire.Event) error { return wire.DecodeEvent(frame, ev) }
