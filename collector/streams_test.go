package collector

import (
	"fmt"
	"math/rand"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// streamTotals are the sums every stream table must hold.
type streamTotals struct {
	reports, activeNs, bootNs, idleNs, durationNs, concurrencyNs int64
	predictions, succeeded, failed, images, started, predictNs   int64
	downloads, downloadErrors, bytes, durationUs                 int64
	setupRuns, setupFailed                                       int64
}

// add counts one delivered event.
func (s *streamTotals) add(ev *wire.Event) {
	switch ev.Kind {
	case wire.KindInstanceState:
		v := &ev.InstanceState
		s.reports++
		s.activeNs += int64(v.ActiveNs)
		s.bootNs += int64(v.BootNs)
		s.idleNs += int64(v.IdleNs)
		s.durationNs += v.IntervalEndNs - v.IntervalStartNs
		s.concurrencyNs += int64(v.ConcurrencyNs)
	case wire.KindPrediction:
		v := &ev.Prediction
		s.predictions++
		s.images += int64(v.ImageCount)
		switch v.Status {
		case wire.PredictionSucceeded:
			s.succeeded++
		case wire.PredictionFailed:
			s.failed++
		}
		if v.StartedAtNs != 0 {
			s.started++
			s.predictNs += v.CompletedAtNs - v.StartedAtNs
		}
	case wire.KindDownload:
		s.downloads++
		if ev.Download.Error != "" {
			s.downloadErrors++
		}
		s.bytes += int64(ev.Download.SizeBytes)
		s.durationUs += int64(ev.Download.DurationUs)
	case wire.KindSetupRun:
		s.setupRuns++
		if ev.SetupRun.Status == wire.SetupFailed {
			s.setupFailed++
		}
	}
}

// readStreamTotals sums the four stream tables under out.
func readStreamTotals(t *testing.T, out string) streamTotals {
	t.Helper()
	var s streamTotals
	files := func(d *table.Desc) []string {
		fs, err := filepath.Glob(filepath.Join(d.Dir(out), "*", "*", "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for _, f := range files(table.InstanceState) {
		rows, err := table.Read[table.InstanceStateRow](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s.reports += r.Reports
			s.activeNs += r.ActiveNs
			s.bootNs += r.BootNs
			s.idleNs += r.IdleNs
			s.durationNs += r.DurationNs
			s.concurrencyNs += r.ConcurrencyNs
		}
	}
	for _, f := range files(table.Predictions) {
		rows, err := table.Read[table.PredictionRow](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s.predictions += r.Predictions
			s.succeeded += r.Succeeded
			s.failed += r.Failed
			s.images += r.Images
			s.started += r.Started
			s.predictNs += r.PredictTimeNs
		}
	}
	for _, f := range files(table.Downloads) {
		rows, err := table.Read[table.DownloadRow](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s.downloads += r.Downloads
			s.downloadErrors += r.Errors
			s.bytes += r.Bytes
			s.durationUs += r.DurationUs
		}
	}
	for _, f := range files(table.SetupRuns) {
		rows, err := table.Read[table.SetupRunRow](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s.setupRuns++
			if r.Status == "failed" {
				s.setupFailed++
			}
		}
	}
	return s
}

// makeStreamBatches is n batches of stream events from one emitter, seqs
// 1.., event times spread over [base, base+spread).
func makeStreamBatches(seed int64, n, per int, base time.Time, spread time.Duration) [][]wire.Event {
	r := rand.New(rand.NewSource(seed))
	emitter := [16]byte{0xe5, byte(seed)}
	var seq uint64
	out := make([][]wire.Event, n)
	for b := range out {
		for i := 0; i < per; i++ {
			seq++
			ts := base.UnixNano() + r.Int63n(int64(spread))
			ev := wire.Event{ID: [16]byte{1, byte(seq), byte(seq >> 8)}, EmitterID: emitter, Seq: seq, TimestampNs: ts}
			dep := fmt.Sprintf("acme/m%d", r.Intn(3))
			switch seq % 4 {
			case 0:
				span := int64(15e9)
				active := uint64(r.Int63n(span))
				boot := uint64(r.Int63n(span - int64(active) + 1))
				ev.Kind = wire.KindInstanceState
				ev.InstanceState = wire.InstanceState{IntervalStartNs: ts - span, IntervalEndNs: ts, ActiveNs: active,
					BootNs: boot, IdleNs: uint64(span) - active - boot, ConcurrencyNs: uint64(r.Int63n(3 * span)),
					DeploymentKey: dep, Hardware: "gpu-a40", InstanceID: fmt.Sprint("i-", r.Intn(5)),
					InstanceMetadata: []wire.Label{{Key: "zone", Value: "a"}}}
			case 1:
				ev.Kind = wire.KindPrediction
				ev.Prediction = wire.Prediction{PredictionID: fmt.Sprint(seq), DeploymentKey: dep,
					Status: wire.PredictionStatus(1 + r.Intn(4)), CreatedAtNs: ts - 3e9, StartedAtNs: ts - r.Int63n(2e9),
					CompletedAtNs: ts, ImageCount: uint32(r.Intn(4)), Attributes: []wire.Label{{Key: "nsfw", Value: "false"}}}
			case 2:
				ev.Kind = wire.KindDownload
				ev.Download = wire.Download{URL: "https://huggingface.co/acme/w", Host: "huggingface.co",
					SizeBytes: uint64(r.Int63n(1 << 32)), DurationUs: uint64(r.Int63n(1e8))}
				if r.Intn(8) == 0 {
					ev.Download.Error = "connection reset"
				}
			case 3:
				ev.Kind = wire.KindSetupRun
				ev.SetupRun = wire.SetupRun{Status: wire.SetupStatus(1 + r.Intn(3)), ScheduledAtNs: ts - 9e9,
					StartedAtNs: ts - 8e9, CompletedAtNs: ts, Logs: "weights loaded\n", DeploymentKey: dep,
					InstanceID: fmt.Sprint("i-", seq)}
			}
			out[b] = append(out[b], ev)
		}
	}
	return out
}

// TestStreamTablesKill9: stream events of every kind through the real
// collector binary, killed with SIGKILL twice (once while windows are
// open and held by its checkpoint, once after flushes), each batch
// re-sent as a forwarder would; the four tables hold every event exactly
// once.
func TestStreamTablesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	root := t.TempDir()
	data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
	now := time.Now().UTC()
	// Half the events are two hours old (flushed at once), half current
	// (held open, so in checkpoints, across the kills).
	batches := append(makeStreamBatches(1, 30, 40, now.Add(-2*time.Hour), time.Hour),
		makeStreamBatches(2, 30, 40, now.Add(-30*time.Second), 20*time.Second)...)
	p := startProc(t, data, out)
	var want streamTotals
	kills := map[int]bool{17: true, 44: true}
	for i, b := range batches {
		body := encodeBatch(t, [16]byte{0xf5}, uint64(i+1), b)
		if kills[i] {
			// The batch is durable in the WAL before the kill: the re-send
			// below must be counted as duplicates.
			if code := postRaw(p.url, body); code != http.StatusOK {
				t.Fatalf("batch %d: status %d", i, code)
			}
			p.cmd.Process.Kill()
			<-p.exited
			p = startProc(t, data, out)
		}
		if code := postRaw(p.url, body); code != http.StatusOK {
			t.Fatalf("batch %d: status %d", i, code)
		}
		for j := range b {
			want.add(&b[j])
		}
		if i%10 == 0 {
			time.Sleep(60 * time.Millisecond) // let flushes and checkpoints happen
		}
	}
	p.term(t)
	if got := readStreamTotals(t, out); got != want {
		t.Fatalf("tables hold\n%+v\nevents sum to\n%+v", got, want)
	}
}
