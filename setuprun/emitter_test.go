package setuprun_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/setuprun"
	"github.com/readout-dev/readout/wire"
)

var _ setuprun.Sink = (*emitter.Emitter)(nil)

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

// TestReportThroughEmitter sends a report with full logs, cut beside a
// 4-byte rune and holding a byte that is not UTF-8, through a real emitter
// and socket: the forwarder's strict decoder takes it as sent.
func TestReportThroughEmitter(t *testing.T) {
	path, received := forward(t)
	em, err := emitter.New(emitter.Options{SocketPath: path, ReconnectInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("emitter: %v", err)
	}
	rep, err := setuprun.New(setuprun.Options{Sink: em, ScheduledAt: time.Now().Add(-time.Minute),
		DeploymentKey: "acme/llama", InstanceID: "llama-7f9c-x2k",
		InstanceMetadata: []wire.Label{{Key: "namespace", Value: "models"}},
		RuntimeMetadata:  []wire.Label{{Key: "cog_version", Value: "0.9.4"}}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	body := "\xff" + strings.Repeat("a", setuprun.MaxLogBytes-6)
	_, _ = rep.Write([]byte("head 𝄞" + body))
	if err := rep.Failed(); err != nil {
		t.Fatalf("failed: %v", err)
	}
	sent, _ := rep.Report()
	if want := "\uFFFD" + body[1:]; sent.Logs != want || sent.LogsDroppedBytes != uint64(len("head 𝄞")) {
		t.Fatalf("unexpected logs of %d bytes starting %q, %d dropped", len(sent.Logs), sent.Logs[:8], sent.LogsDroppedBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatalf("emitter close: %v", err)
	}
	got := received()
	if len(got) != 1 || got[0].Kind != wire.KindSetupRun || got[0].TimestampNs != sent.CompletedAtNs {
		t.Fatalf("unexpected events %+v; want the one report", got)
	}
	if !reflect.DeepEqual(got[0].SetupRun, sent) {
		t.Fatalf("got %+v; want %+v", got[0].SetupRun, sent)
	}
}
