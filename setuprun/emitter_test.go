package setuprun_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/internal/fwdstub"
	"github.com/readout-dev/readout/setuprun"
	"github.com/readout-dev/readout/wire"
)

var _ setuprun.Sink = (*emitter.Emitter)(nil)

// forward stands in for the forwarder (internal/fwdstub).
var forward = fwdstub.Listen

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
