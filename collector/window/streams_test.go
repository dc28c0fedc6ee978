package window

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// streamEvents is n seeded stream events of every kind over three
// one-minute windows from base.
func streamEvents(n int, seed int64) []wire.Event {
	r := rand.New(rand.NewSource(seed))
	base := int64(1_800_000_000) * 1e9
	evs := make([]wire.Event, n)
	for i := range evs {
		ev := &evs[i]
		ev.TimestampNs = base + r.Int63n(int64(3*time.Minute))
		dep := fmt.Sprintf("acme/model-%d", r.Intn(4))
		switch r.Intn(4) {
		case 0:
			span := int64(15e9)
			active := uint64(r.Int63n(span))
			boot := uint64(r.Int63n(span - int64(active) + 1))
			ev.Kind = wire.KindInstanceState
			ev.InstanceState = wire.InstanceState{IntervalStartNs: ev.TimestampNs - span, IntervalEndNs: ev.TimestampNs,
				ActiveNs: active, BootNs: boot, IdleNs: uint64(span) - active - boot, ConcurrencyNs: uint64(r.Int63n(4 * span)),
				DeploymentKey: dep, Hardware: []string{"cpu", "gpu-t4"}[r.Intn(2)], ComputeUnit: "gpu",
				InstanceID: fmt.Sprintf("i-%d", r.Intn(6)), Version: "v1"}
		case 1:
			st := wire.PredictionStatus(1 + r.Intn(4))
			started := ev.TimestampNs - r.Int63n(5e9)
			if r.Intn(5) == 0 {
				started = 0
			}
			ev.Kind = wire.KindPrediction
			ev.Prediction = wire.Prediction{PredictionID: fmt.Sprint(i), DeploymentKey: dep, Version: "v1", Status: st,
				StartedAtNs: started, CompletedAtNs: ev.TimestampNs, InputTokens: uint32(r.Intn(100)),
				OutputTokens: uint32(r.Intn(100)), ImageCount: uint32(r.Intn(3))}
			if st == wire.PredictionFailed {
				ev.Prediction.ErrorCode = "E1001"
			}
		case 2:
			ev.Kind = wire.KindDownload
			ev.Download = wire.Download{URL: fmt.Sprintf("https://h%d/w", r.Intn(3)), Host: fmt.Sprintf("h%d", r.Intn(3)),
				SizeBytes: uint64(r.Int63n(1 << 30)), DurationUs: uint64(r.Int63n(1e7))}
			if r.Intn(10) == 0 {
				ev.Download.Error = "reset"
			}
		case 3:
			ev.Kind = wire.KindSetupRun
			ev.SetupRun = wire.SetupRun{Status: wire.SetupStatus(r.Intn(4)), ScheduledAtNs: ev.TimestampNs - 9e9,
				StartedAtNs: ev.TimestampNs - 7e9, CompletedAtNs: ev.TimestampNs, Logs: "done\n",
				DeploymentKey: dep, InstanceID: fmt.Sprintf("i-%d", i)}
		}
	}
	return evs
}

func addStreams(a *Aggregator, evs []wire.Event) {
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case wire.KindInstanceState:
			a.AddInstanceState(&ev.InstanceState, ev.TimestampNs)
		case wire.KindPrediction:
			a.AddPrediction(&ev.Prediction, ev.TimestampNs)
		case wire.KindDownload:
			a.AddDownload(&ev.Download, ev.TimestampNs)
		case wire.KindSetupRun:
			a.AddSetupRun(&ev.SetupRun, ev.TimestampNs)
		}
	}
}

// streamRows is every stream row of a's windows, each table's rows in a
// fixed order (groups live in maps).
func streamRows(a *Aggregator) map[string]any {
	out := map[string]any{}
	for _, w := range a.Closable(0, 0, true) {
		s := w.StateRows(time.Minute)
		sort.Slice(s, func(i, j int) bool { return fmt.Sprint(s[i]) < fmt.Sprint(s[j]) })
		p := w.PredictionRows(time.Minute)
		sort.Slice(p, func(i, j int) bool { return fmt.Sprint(p[i]) < fmt.Sprint(p[j]) })
		d := w.DownloadRows(time.Minute)
		sort.Slice(d, func(i, j int) bool { return fmt.Sprint(d[i]) < fmt.Sprint(d[j]) })
		out[fmt.Sprint(w.Start)] = []any{s, p, d, w.SetupRunRows(time.Minute)}
	}
	return out
}

// TestStreamsAddUp: the rows' sums equal the events' exactly, per table.
func TestStreamsAddUp(t *testing.T) {
	evs := streamEvents(4000, 1)
	a := New(Config{Width: time.Minute, MaxGroups: 1000, MaxModels: 100})
	addStreams(a, evs)
	var want, got struct{ reports, active, duration, conc, preds, started, predictNs, images, dls, bytes, durUs, runs int64 }
	for i := range evs {
		switch v := &evs[i]; v.Kind {
		case wire.KindInstanceState:
			want.reports++
			want.active += int64(v.InstanceState.ActiveNs)
			want.duration += v.InstanceState.IntervalEndNs - v.InstanceState.IntervalStartNs
			want.conc += int64(v.InstanceState.ConcurrencyNs)
		case wire.KindPrediction:
			want.preds++
			want.images += int64(v.Prediction.ImageCount)
			if v.Prediction.StartedAtNs != 0 {
				want.started++
				want.predictNs += v.Prediction.CompletedAtNs - v.Prediction.StartedAtNs
			}
		case wire.KindDownload:
			want.dls++
			want.bytes += int64(v.Download.SizeBytes)
			want.durUs += int64(v.Download.DurationUs)
		case wire.KindSetupRun:
			want.runs++
		}
	}
	for _, w := range a.Closable(0, 0, true) {
		for _, r := range w.StateRows(time.Minute) {
			if r.ActiveNs+r.BootNs+r.IdleNs != r.DurationNs {
				t.Fatalf("row %+v: state times do not add up to its duration", r)
			}
			got.reports += r.Reports
			got.active += r.ActiveNs
			got.duration += r.DurationNs
			got.conc += r.ConcurrencyNs
		}
		for _, r := range w.PredictionRows(time.Minute) {
			if r.Succeeded+r.Failed+r.Canceled+r.Aborted != r.Predictions {
				t.Fatalf("row %+v: statuses do not add up", r)
			}
			got.preds += r.Predictions
			got.images += r.Images
			got.started += r.Started
			got.predictNs += r.PredictTimeNs
		}
		for _, r := range w.DownloadRows(time.Minute) {
			got.dls += r.Downloads
			got.bytes += r.Bytes
			got.durUs += r.DurationUs
		}
		for _, r := range w.SetupRunRows(time.Minute) {
			if r.DurationMs != 7000 || r.ScheduledToReadyMs != 9000 || r.ScheduledToStartedMs != 2000 {
				t.Fatalf("setup run row %+v: want 7000, 9000 and 2000 ms", r)
			}
			got.runs++
		}
	}
	if got != want {
		t.Fatalf("rows add up to %+v; events to %+v", got, want)
	}
}

// TestStreamsSnapshotRoundTrip: restored stream state writes the very
// rows the original writes, and keeps doing so as both take more events,
// at the group cap too.
func TestStreamsSnapshotRoundTrip(t *testing.T) {
	for _, maxGroups := range []int{1000, 5} {
		t.Run(fmt.Sprint("max groups ", maxGroups), func(t *testing.T) {
			cfg := Config{Width: time.Minute, MaxGroups: maxGroups, MaxModels: 100}
			evs := streamEvents(3000, 2)
			a := New(cfg)
			addStreams(a, evs[:1500])
			a.Add(inf("m", 1, 0), evs[0].TimestampNs, 1) // inference groups beside
			b := roundTrip(t, a, cfg)
			if a.Groups() != b.Groups() || !reflect.DeepEqual(streamRows(a), streamRows(b)) {
				t.Fatalf("restored %d groups; want %d, or other rows", b.Groups(), a.Groups())
			}
			addStreams(a, evs[1500:])
			addStreams(b, evs[1500:])
			if !reflect.DeepEqual(streamRows(a), streamRows(b)) || !reflect.DeepEqual(allRows(a), allRows(b)) {
				t.Fatal("restored windows diverge as they take more events")
			}
		})
	}
}

// TestReadSnapshotV3: a window written before the stream tables (no
// streams flag) reads back with ReadSnapshotV3.
func TestReadSnapshotV3(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10})
	a.Add(inf("m", 1, 0), int64(time.Hour), 1)
	w := a.Closable(0, 0, true)[0]
	enc := AppendSnapshot(nil, w)
	if enc[len(enc)-1] != 0 {
		t.Fatal("a window without stream state does not end in the streams flag 0")
	}
	v3 := enc[:len(enc)-1]
	got, rest, err := ReadSnapshotV3(v3)
	if err != nil || len(rest) != 0 || !reflect.DeepEqual(got.Rows(time.Minute), w.Rows(time.Minute)) {
		t.Fatalf("ReadSnapshotV3: %v, %d bytes left", err, len(rest))
	}
}

// TestSetupRunMissingTime: a setup run without a scheduled time has the
// epoch there, which survives a Parquet round trip (Go's zero time reads
// back as 1754), and the durations that need it are 0.
func TestSetupRunMissingTime(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10})
	a.AddSetupRun(&wire.SetupRun{Status: wire.SetupReady, StartedAtNs: 2e9, CompletedAtNs: 5e9}, 5e9)
	rows := a.Closable(0, 0, true)[0].SetupRunRows(time.Minute)
	path := t.TempDir() + "/s.parquet"
	if err := table.Write(path, rows); err != nil {
		t.Fatal(err)
	}
	back, err := table.Read[table.SetupRunRow](path)
	if err != nil {
		t.Fatal(err)
	}
	r := back[0]
	if !r.ScheduledAt.Equal(time.Unix(0, 0)) || r.ScheduledToStartedMs != 0 || r.ScheduledToReadyMs != 0 || r.DurationMs != 3000 {
		t.Fatalf("row %+v: want the epoch for the missing time, 0 for what needs it, 3000 ms of setup", r)
	}
}
