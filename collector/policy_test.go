package collector

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// TestEventPolicies checks each documented policy in docs/input-policy.md.
func TestEventPolicies(t *testing.T) {
	arrival := testBase.Add(90 * time.Second)
	arrivalWindow := arrival.Truncate(time.Minute)
	r := testRand()
	emitter := [16]byte{9}
	mk := func(seq uint64, ts int64, neurons float64) wire.Event {
		ev := genEvent(r, emitter, seq, 0, testBase)
		ev.TimestampNs = ts
		ev.Inference.Neurons = neurons
		return ev
	}
	cases := []struct {
		name        string
		ev          wire.Event
		wantWindow  time.Time
		wantNeurons float64
		metric      string // adjusted reason counted
	}{
		{"normal", mk(1, testBase.UnixNano(), 2.5), testBase, 2.5, ""},
		{"absent time", mk(2, 0, 1), arrivalWindow, 1, "time_before_epoch"},
		{"before 1970", mk(3, -int64(time.Hour), 1), arrivalWindow, 1, "time_before_epoch"},
		{"far future", mk(4, arrival.Add(48*time.Hour).UnixNano(), 1), arrivalWindow, 1, "time_future"},
		{"near future kept", mk(5, arrival.Add(5*time.Minute).UnixNano(), 1), arrival.Add(5 * time.Minute).Truncate(time.Minute), 1, ""},
		{"an hour ahead", mk(10, arrival.Add(time.Hour).UnixNano(), 1), arrivalWindow, 1, "time_future"},
		{"week-old kept", mk(6, testBase.Add(-7*24*time.Hour).UnixNano(), 1), testBase.Add(-7 * 24 * time.Hour), 1, ""},
		{"NaN neurons", mk(7, testBase.UnixNano(), math.NaN()), testBase, 0, "neurons"},
		{"Inf neurons", mk(8, testBase.UnixNano(), math.Inf(1)), testBase, 0, "neurons"},
		{"negative neurons", mk(9, testBase.UnixNano(), -3), testBase, 0, "neurons"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.Now = newClock(arrival).now
			h := start(t, cfg)
			h.send(t, [16]byte{1}, 1, []wire.Event{tc.ev})
			adjusted := 0.0
			if tc.metric != "" {
				adjusted = value(t, h.c.m.adjusted.WithLabelValues(tc.metric))
			}
			h.stop(t)
			rows, _ := readRows(t, cfg.OutDir)
			if len(rows) != 1 {
				t.Fatalf("got %d rows; want 1", len(rows))
			}
			if !rows[0].WindowStart.Equal(tc.wantWindow) || rows[0].Neurons != tc.wantNeurons || rows[0].Requests != 1 {
				t.Fatalf("got window %v neurons %v requests %d; want %v, %v, 1",
					rows[0].WindowStart, rows[0].Neurons, rows[0].Requests, tc.wantWindow, tc.wantNeurons)
			}
			if tc.metric != "" && adjusted != 1 {
				t.Fatalf("adjustment %s counted %v times; want 1", tc.metric, adjusted)
			}
		})
	}
}

// TestNonInferenceEvents: lifecycle events are counted and audited but make
// no rows; anonymous final messages are ignored; a re-sent final message is
// not a duplicate.
func TestNonInferenceEvents(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	em := [16]byte{7}
	evs := []wire.Event{
		{EmitterID: em, Seq: 1, Kind: wire.KindLifecycle, TimestampNs: testBase.UnixNano(), Lifecycle: wire.Lifecycle{ModelID: "m", Hostname: "h"}},
		{EmitterID: em, Seq: 2, DroppedTotal: 1, Kind: wire.KindClosed},
		{EmitterID: em, Seq: 2, DroppedTotal: 1, Kind: wire.KindClosed},
		{Kind: wire.KindClosed},
	}
	h.send(t, [16]byte{1}, 1, evs)
	if got := value(t, h.c.m.events.WithLabelValues("lifecycle")); got != 1 {
		t.Fatalf("lifecycle events counted %v; want 1", got)
	}
	h.stop(t)
	if rows, _ := readRows(t, cfg.OutDir); len(rows) != 0 {
		t.Fatalf("lifecycle event made %d rows", len(rows))
	}
	tr := newTruth()
	for i := range evs[:3] {
		tr.deliver(&evs[i])
	}
	checkAudit(t, cfg.OutDir, tr, true)
}

func TestPartNames(t *testing.T) {
	name := partName("abcdef01", 42, 3)
	id, seq, ok := parsePartName(name)
	if !ok || id != "abcdef01" || seq != 42 {
		t.Fatalf("parse %s: got %q %d %v", name, id, seq, ok)
	}
	for _, bad := range []string{"part-x-1.parquet", "part-abcdef01-zz-0001.parquet", "other.parquet", ".tmp-1.parquet"} {
		if _, _, ok := parsePartName(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestUncommittedFiles(t *testing.T) {
	out := t.TempDir()
	keep := []string{partName("aaaaaaaa", 5, 0), partName("aaaaaaaa", 4, 1), partName("bbbbbbbb", 9, 0)}
	redo := []string{partName("aaaaaaaa", 6, 0), partName("aaaaaaaa", 6, 2)}
	lost := []string{partName("aaaaaaaa", 8, 0)}
	for i, n := range append(append(append([]string{}, keep...), redo...), lost...) {
		partitionFile(t, out, i, n)
	}
	gotRedo, gotLost, err := uncommittedFiles(out, "aaaaaaaa", 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotRedo) != len(redo) || len(gotLost) != len(lost) {
		t.Fatalf("got redo %v, unaccounted %v; want %d and %d files", gotRedo, gotLost, len(redo), len(lost))
	}
	if err := removeUncommitted(gotRedo); err != nil {
		t.Fatal(err)
	}
	for _, p := range gotRedo {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
	if _, _, err := uncommittedFiles(t.TempDir(), "aaaaaaaa", 0, 1); err != nil {
		t.Fatalf("missing output folder: %v", err)
	}
}

// TestRecoveryCleansEveryTable: crash cleanup must reach every table the
// collector adds files to, or a new table loses exactly-once after a
// crash. It plants an uncommitted file (flush seq 1, no checkpoint, the
// WAL from its start) in each registered table and checks a start
// removes it.
func TestRecoveryCleansEveryTable(t *testing.T) {
	cfg := testConfig(t)
	cfg.Now = newClock(testBase.Add(time.Hour)).now
	h := start(t, cfg)
	r := testRand()
	ev := genEvent(r, [16]byte{1}, 1, 0, testBase.Add(30*time.Minute)) // stays open: in the WAL only
	h.send(t, [16]byte{1}, 1, []wire.Event{ev})
	id8 := h.c.id8
	crashed := cfg
	crashed.DataDir, crashed.OutDir = copyTree(t, cfg.DataDir), t.TempDir() // what a kill -9 now leaves: the WAL, no checkpoint
	var planted []string
	for i, tb := range table.Tables {
		if tb.Snapshot {
			continue
		}
		p := filepath.Join(tb.PartitionDir(crashed.OutDir, testBase), partName(id8, 1, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("PAR1"), 0o644); err != nil {
			t.Fatal(err)
		}
		planted = append(planted, p)
	}
	c, err := Open(crashed, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	for _, p := range planted {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("uncommitted file %s survived a start: %v", p, err)
		}
	}
}

// TestEveryTableHasASink: a table registered in table.Tables that no sink
// fills would never get a row from a flush.
func TestEveryTableHasASink(t *testing.T) {
	for _, d := range table.Tables {
		if d.Snapshot {
			continue
		}
		found := false
		for _, s := range sinks {
			found = found || s.desc == d
		}
		if !found {
			t.Errorf("table %q has no sink", d.Name)
		}
	}
}
