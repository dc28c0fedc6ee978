package prediction_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/internal/fwdstub"
	"github.com/readout-dev/readout/prediction"
	"github.com/readout-dev/readout/wire"
)

var _ prediction.Sink = (*emitter.Emitter)(nil)

// forward stands in for the forwarder (internal/fwdstub).
var forward = fwdstub.Listen

// TestReportsThroughEmitter tracks two predictions, one completed and one
// stopped while processing, through a real emitter and socket: the
// forwarder's strict decoder gets one event each, equal to the Completed
// update.
func TestReportsThroughEmitter(t *testing.T) {
	path, received := forward(t)
	em, err := emitter.New(emitter.Options{SocketPath: path, ReconnectInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("emitter: %v", err)
	}
	var completed []wire.Prediction
	for _, id := range []string{"p-done", "p-stopped"} {
		tr, err := prediction.New(prediction.Options{Sink: em, PredictionID: id, DeploymentKey: "acme/llama", Version: "v42"})
		if err != nil {
			t.Fatalf("new: %v", err)
		}
		updates, _ := tr.Subscribe()
		_ = tr.Output([]byte("Hello"))
		_ = tr.SetTokens(12, 1)
		_ = tr.SetAttribute("moderation", "passed")
		if id == "p-done" {
			_ = tr.Fail("E1234")
		}
		_ = tr.Stop()
		_ = tr.Stop()
		var last prediction.Update
		for u := range updates {
			last = u
		}
		completed = append(completed, last.Prediction)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatalf("emitter close: %v", err)
	}
	got := received()
	if len(got) != 2 {
		t.Fatalf("unexpected events %+v; want one per prediction", got)
	}
	for i, ev := range got {
		if ev.Kind != wire.KindPrediction || ev.TimestampNs != completed[i].CompletedAtNs ||
			!reflect.DeepEqual(ev.Prediction, completed[i]) {
			t.Fatalf("event %d: got %+v; want %+v", i, ev.Prediction, completed[i])
		}
	}
	if got[0].Prediction.Status != wire.PredictionFailed || got[1].Prediction.Status != wire.PredictionAborted ||
		got[1].Prediction.CancelReason != prediction.StoppedReason {
		t.Fatalf("unexpected statuses %v, %v", got[0].Prediction.Status, got[1].Prediction.Status)
	}
}
