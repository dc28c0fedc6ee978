package window

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// addFrames adds events to a from frames.
func addFrames(tb testing.TB, a *Aggregator, frames [][]byte) {
	tb.Helper()
	var ev wire.Event
	for _, f := range frames {
		if err := wire.DecodeEvent(f, &ev); err != nil {
			tb.Fatal(err)
		}
		a.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
	}
}

// roundTrip snapshots every open window of a and restores them into a new
// aggregator.
func roundTrip(t *testing.T, a *Aggregator, cfg Config) *Aggregator {
	t.Helper()
	var b []byte
	ws := a.Closable(0, 0, true)
	for _, w := range ws {
		b = AppendSnapshot(b, w)
	}
	got := New(cfg)
	for range ws {
		w, rest, err := ReadSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Restore(w); err != nil {
			t.Fatal(err)
		}
		b = rest
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left after the last window", len(b))
	}
	return got
}

func allRows(a *Aggregator) map[int64]any {
	out := map[int64]any{}
	for _, w := range a.Closable(0, 0, true) {
		out[w.Start] = w.Rows(time.Minute)
	}
	return out
}

// TestSnapshotRoundTrip: a restored window writes the very rows the
// original writes, and keeps doing so as both take more events (sparse and
// dense bins, overflow keys, the model cap).
func TestSnapshotRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		events    int
		keys      int
		maxGroups int
		maxModels int
	}{
		{"few keys, dense bins", 5000, 20, 1000, 100},
		{"many keys, sparse bins", 3000, 2000, 100000, 1000},
		{"group cap", 3000, 500, 100, 1000},
		{"model cap", 3000, 500, 1000, 10},
		{"empty", 0, 1, 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Width: time.Minute, MaxGroups: tc.maxGroups, MaxModels: tc.maxModels}
			frames := benchFrames(2*tc.events, tc.keys)
			a := New(cfg)
			addFrames(t, a, frames[:tc.events])
			b := roundTrip(t, a, cfg)
			if a.Groups() != b.Groups() || a.Windows() != b.Windows() {
				t.Fatalf("restored %d groups in %d windows; want %d in %d", b.Groups(), b.Windows(), a.Groups(), a.Windows())
			}
			if !reflect.DeepEqual(allRows(a), allRows(b)) {
				t.Fatal("restored windows write other rows")
			}
			var oa, ob int
			a.OnOverflow = func(int64, string) { oa++ }
			b.OnOverflow = func(int64, string) { ob++ }
			addFrames(t, a, frames[tc.events:])
			addFrames(t, b, frames[tc.events:])
			if oa != ob || !reflect.DeepEqual(allRows(a), allRows(b)) {
				t.Fatal("restored windows diverge as they take more events")
			}
		})
	}
}

func TestRestoreConflicts(t *testing.T) {
	cfg := Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10}
	a := New(cfg)
	a.Add(inf("m", 1, 0), int64(time.Hour), 1)
	w := a.Closable(0, 0, true)[0]
	b, _, err := ReadSnapshot(AppendSnapshot(nil, w))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(b); err == nil {
		t.Fatal("restored a window over an open one")
	}
	b.Start++
	if err := New(cfg).Restore(b); err == nil {
		t.Fatal("restored a window not aligned to the width")
	}
}

// TestReadSnapshotDamage: every truncation of a snapshot, and a few
// impossible values, are errors wrapping ErrSnapshot, never a panic.
func TestReadSnapshotDamage(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 100, MaxModels: 10})
	addFrames(t, a, benchFrames(500, 30))
	good := AppendSnapshot(nil, a.Closable(0, 0, true)[0])
	for n := 0; n < len(good); n += 1 + n/50 {
		if _, _, err := ReadSnapshot(good[:n]); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("truncated at %d of %d: got %v; want ErrSnapshot", n, len(good), err)
		}
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		b := append([]byte(nil), good...)
		b[r.Intn(len(b))] ^= byte(1 + r.Intn(255))
		// Flipped bytes may still decode (the checkpoint's checksum catches
		// them); they must not panic or run away.
		ReadSnapshot(b)
	}
}

func FuzzReadSnapshot(f *testing.F) {
	a := New(Config{Width: time.Minute, MaxGroups: 100, MaxModels: 10})
	addFrames(f, a, benchFrames(200, 10))
	f.Add(AppendSnapshot(nil, a.Closable(0, 0, true)[0]))
	st := New(Config{Width: time.Minute, MaxGroups: 100, MaxModels: 10})
	addStreams(st, streamEvents(50, 3))
	f.Add(AppendSnapshot(nil, st.Closable(0, 0, true)[0]))
	f.Add([]byte{})
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _, err := ReadSnapshot(b)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same rows.
		w2, _, err := ReadSnapshot(AppendSnapshot(nil, w))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !reflect.DeepEqual(w.Rows(time.Minute), w2.Rows(time.Minute)) || len(w.SetupRunRows(time.Minute)) != len(w2.SetupRunRows(time.Minute)) {
			t.Fatal("re-read window differs")
		}
	})
}

// BenchmarkSnapshot measures what a checkpoint costs the ingest loop per
// open window: encoding (the loop stops taking batches meanwhile) and, for
// restarts, decoding. Each key saw 10 events.
func BenchmarkSnapshot(b *testing.B) {
	for _, keys := range []int{10000, 100000} {
		a := New(Config{Width: time.Minute, MaxGroups: 200000, MaxModels: 1000})
		var ev wire.Event
		for _, f := range benchFrames(10*keys, keys) {
			wire.DecodeEvent(f, &ev)
			a.Add(&ev.Inference, int64(time.Hour), ev.Inference.Neurons)
		}
		w := a.Closable(0, 0, true)[0]
		if w.Len() != keys {
			b.Fatalf("%d groups; want %d", w.Len(), keys)
		}
		enc := AppendSnapshot(nil, w)
		b.Run(fmt.Sprintf("encode/%dk-groups", keys/1000), func(b *testing.B) {
			buf := make([]byte, 0, len(enc))
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				buf = AppendSnapshot(buf[:0], w)
			}
			b.ReportMetric(float64(len(enc)), "snapshot-bytes")
		})
		b.Run(fmt.Sprintf("decode/%dk-groups", keys/1000), func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, _, err := ReadSnapshot(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
