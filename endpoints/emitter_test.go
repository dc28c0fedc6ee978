package endpoints_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/endpoints"
	"github.com/readout-dev/readout/internal/fwdstub"
	"github.com/readout-dev/readout/wire"
)

var _ endpoints.Sink = (*emitter.Emitter)(nil)

// forward stands in for the forwarder (internal/fwdstub).
var forward = fwdstub.Listen

// TestEventsThroughEmitter sends a tracker's events through a real emitter
// and socket and checks the forwarder's strict decoder gets them as sent.
func TestEventsThroughEmitter(t *testing.T) {
	path, received := forward(t)
	em, err := emitter.New(emitter.Options{SocketPath: path, ReconnectInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("emitter: %v", err)
	}
	var sent []wire.Lifecycle
	sink := sinkFunc(func(ev *wire.Lifecycle) bool {
		sent = append(sent, *ev)
		return em.EmitLifecycle(ev)
	})
	ns := int64(t0)
	clock := func() time.Time { return time.Unix(0, ns) }
	tr, err := endpoints.New(endpoints.Options{Sink: sink, Clock: clock, Hostname: "gpu-7.colo-a",
		Known: []endpoints.Presence{{ModelID: "@cf/baai/bge-base-en-v1.5", Endpoint: "10.0.0.9:8000", BeginTs: t0 - 60e9}}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	ns += 1e9
	tr.Refresh(map[string][]string{
		"@cf/meta/llama-2-7b": {"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.1:8000"},
		"@cf/openai/whisper":  {"[fd00::7]:9000"},
	})
	ns += 30e9
	tr.Refresh(map[string][]string{"@cf/meta/llama-2-7b": {"10.0.0.2:8000"}, "@cf/openai/whisper": {"[fd00::7]:9000"}})
	ns += 5e9
	tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatalf("emitter close: %v", err)
	}
	if s := tr.Stats(); s.Appeared != 3 || s.Disappeared != 4 || s.AppearancesDropped+s.DisappearancesDropped != 0 {
		t.Fatalf("unexpected stats %+v", s)
	}
	got := received()
	if len(got) != 7 || len(sent) != 7 {
		t.Fatalf("unexpected events; got %d of %d sent; want 7", len(got), len(sent))
	}
	for i, ev := range got {
		if ev.Kind != wire.KindLifecycle || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: unexpected kind %v or seq %d", i, ev.Kind, ev.Seq)
		}
		if !reflect.DeepEqual(ev.Lifecycle, sent[i]) {
			t.Fatalf("event %d: got %+v; want %+v", i, ev.Lifecycle, sent[i])
		}
	}
	// The known presence ends at the first refresh; the rest at close.
	if s := sent[0]; s.ModelID != "@cf/baai/bge-base-en-v1.5" || s.BeginTs != t0-60e9 || s.EndTs != t0+1e9 {
		t.Fatalf("unexpected first event %+v", s)
	}
	if s := sent[6]; s.Endpoint != "[fd00::7]:9000" || s.BeginTs != t0+1e9 || s.EndTs != t0+36e9 {
		t.Fatalf("unexpected last event %+v", s)
	}
}
