package instancestate_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/instancestate"
	"github.com/readout-dev/readout/internal/fwdstub"
	"github.com/readout-dev/readout/wire"
)

var _ instancestate.Sink = (*emitter.Emitter)(nil)

// forward stands in for the forwarder (internal/fwdstub).
var forward = fwdstub.Listen

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
