package truth

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/readout-dev/readout/emitter"
)

func TestWriteRead(t *testing.T) {
	stats := []emitter.Stats{
		{Emitted: 10, Sent: 8, Dropped: 2, DroppedByReason: emitter.DropCounts{BufferFull: 2}, ClosedAcked: true},
		{Emitted: 5, Sent: 5, Replayed: 1, WriteErrors: 3, Unacked: 4},
	}
	want := &File{
		Note: "n", Seed: 7, Events: 15,
		Total:   Totals{Requests: 13, Errors: 1, Neurons: 2.5, InputTokens: 100, OutputTokens: 50, Streamed: 4},
		ByModel: map[string]Totals{"m": {Requests: 13, Errors: 1, Neurons: 2.5, InputTokens: 100, OutputTokens: 50, Streamed: 4}},
		Emitter: SumStats(stats), Emitters: stats,
	}
	path := filepath.Join(t.TempDir(), "truth.json")
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("unexpected truth after a round trip; got %+v; want %+v", got, want)
	}
	sum := got.Emitter
	if sum.Emitters != 2 || sum.Emitted != 15 || sum.Sent != 13 || sum.Dropped != 2 || sum.DroppedByReason.BufferFull != 2 ||
		sum.Replayed != 1 || sum.WriteErrors != 3 || sum.Unacked != 4 || sum.ClosedAcked != 1 {
		t.Fatalf("unexpected stats sum %+v", sum)
	}
}

func TestTotalsAdd(t *testing.T) {
	a := Totals{Requests: 1, Errors: 2, Neurons: 0.5, InputTokens: 3, OutputTokens: 4, Streamed: 5}
	a.Add(Totals{Requests: 10, Errors: 20, Neurons: 1, InputTokens: 30, OutputTokens: 40, Streamed: 50})
	if want := (Totals{Requests: 11, Errors: 22, Neurons: 1.5, InputTokens: 33, OutputTokens: 44, Streamed: 55}); a != want {
		t.Fatalf("unexpected sum; got %+v; want %+v", a, want)
	}
}
