// Package fwdstub is a stand-in for the forwarder in the tests of the
// libraries that send through an emitter: a real Unix socket, the
// forwarder's strict decoder, acknowledgements. Tests only.
package fwdstub

import (
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/readout-dev/readout/wire"
)

// Listen stands in for the forwarder on a real Unix socket: it accepts
// one emitter connection, decodes every frame with the forwarder's strict
// decoder, acknowledges it, and keeps the events. The events are returned
// once the emitter has closed.
func Listen(t *testing.T) (path string, events func() []wire.Event) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fwd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var got []wire.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var buf []byte
		tmp := make([]byte, 64<<10)
		for {
			n, err := c.Read(tmp)
			if err != nil {
				return // the emitter hung up after its closing message
			}
			buf = append(buf, tmp[:n]...)
			for {
				size, err := wire.FrameSize(buf, wire.DefaultMaxMessageSize)
				if errors.Is(err, wire.ErrShortFrame) || err == nil && size > len(buf) {
					break
				}
				if err != nil {
					t.Errorf("forwarder: bad frame: %v", err)
					return
				}
				var ev wire.Event // decoded texts alias the frame: keep a copy
				if err := wire.DecodeEvent(append([]byte(nil), buf[:size]...), &ev); err != nil {
					t.Errorf("forwarder: refused frame: %v", err)
					return
				}
				buf = buf[size:]
				if ev.Kind != wire.KindClosed {
					got = append(got, ev)
				}
				if _, err := c.Write(wire.AppendAck(nil, wire.Ack{DurableSeq: ev.Seq, Closed: ev.Kind == wire.KindClosed})); err != nil {
					return
				}
			}
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { ln.Close(); <-done }) }
	t.Cleanup(stop)
	return path, func() []wire.Event { stop(); return got }
}
