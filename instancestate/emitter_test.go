package instancestate_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/instancestate"
	"github.com/readout-dev/readout/wire"
)

var _ instancestate.Sink = (*emitter.Emitter)(nil)

// forward stands in for the forwarder on a real Unix socket: it accepts
// one emitter connection, decodes every frame with the forwarder's strict
// decoder, acknowledges it, and keeps the events. The events are returned
// once the emitter has closed.
func forward(t *testing.T) (path string, events func() []wire.Event) {
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

// TestReportsThroughEmitter sends reports through a real emitter and socket
// and checks the forwarder's strict decoder gets them as sent.
func TestReportsThroughEmitter(t *testing.T) {
	path, received := forward(t)
	em, err := emitter.New(emitter.Options{SocketPath: path, ReconnectInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("emitter: %v", err)
	}
	var sent []wire.InstanceState
	sink := sinkFunc(func(ev *wire.InstanceState) bool {
		sent = append(sent, *ev)
		return em.EmitInstanceState(ev)
	})
	ns := int64(1_700_000_000_000_000_000)
	clock := func() time.Time { return time.Unix(0, ns) }
	mon, err := instancestate.New(instancestate.Options{Sink: sink, Clock: clock, DeploymentKey: "acme/llama",
		DockerImageURI: "r8.im/acme/llama", Hardware: "gpu-a100-large", ComputeUnit: "gpu", ComputeUnitCount: 2,
		InstanceID: "llama-7f9c-x2k", Version: "v42", Metadata: []wire.Label{{Key: "namespace", Value: "models"}}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	ns += 1e9
	mon.Start()
	ns += 2e9
	mon.SetupDone()
	ns += 12e9
	mon.Tick(clock())
	ns += 3e9
	_ = mon.Finish()
	ns += 1e9
	mon.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatalf("emitter close: %v", err)
	}
	got := received()
	if len(got) != 2 || len(sent) != 2 {
		t.Fatalf("unexpected events; got %d; want the 2 sent", len(got))
	}
	for i, ev := range got {
		if ev.Kind != wire.KindInstanceState || ev.TimestampNs != sent[i].IntervalEndNs {
			t.Fatalf("event %d: unexpected kind %v or time %d", i, ev.Kind, ev.TimestampNs)
		}
		if !reflect.DeepEqual(ev.InstanceState, sent[i]) {
			t.Fatalf("event %d: got %+v; want %+v", i, ev.InstanceState, sent[i])
		}
	}
	if s := sent[0]; s.BootNs != 3e9 || s.ActiveNs != 12e9 || s.ConcurrencyNs != 14e9 {
		t.Fatalf("unexpected first report %+v", s)
	}
}

type sinkFunc func(*wire.InstanceState) bool

func (f sinkFunc) EmitInstanceState(ev *wire.InstanceState) bool { return f(ev) }
