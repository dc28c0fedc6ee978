package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/collector/window"
	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// ckptRun is a collector whose windows stay open (the wall clock sits at
// the scenario's first window), so only checkpoints hold its state.
type ckptRun struct {
	t     *testing.T
	cfg   Config
	clock *fakeClock
	h     *harness
	tr    *truth
	bseq  uint64
}

func newCkptRun(t *testing.T) *ckptRun {
	cfg := testConfig(t)
	clock := newClock(testBase)
	cfg.Now = clock.now
	return &ckptRun{t: t, cfg: cfg, clock: clock, h: start(t, cfg), tr: newTruth()}
}

func (r *ckptRun) send(batches [][]wire.Event) {
	r.t.Helper()
	for _, b := range batches {
		r.bseq++
		if code := post(r.t, r.h.srv.URL, "", encodeBatch(r.t, [16]byte{0xf3}, r.bseq, b), false); code != http.StatusOK {
			r.t.Fatalf("batch %d: status %d", r.bseq, code)
		}
		for j := range b {
			r.tr.deliver(&b[j])
		}
	}
}

// checkpoint moves the clock past the checkpoint interval and flushes: no
// window is closable, so this commits a checkpoint of open windows only.
func (r *ckptRun) checkpoint() {
	r.t.Helper()
	before := value(r.t, r.h.c.m.checkpoints)
	r.clock.set(r.clock.now().Add(checkpointEvery + time.Second))
	if err := r.h.c.Flush(); err != nil {
		r.t.Fatalf("flush: %v", err)
	}
	if got := value(r.t, r.h.c.m.checkpoints); got != before+1 {
		r.t.Fatalf("checkpoints %v after the flush; want %v", got, before+1)
	}
	if files, _ := readRowsIfAny(r.cfg.OutDir); len(files) != 0 {
		r.t.Fatalf("a checkpoint of open windows wrote %v", files)
	}
}

func readRowsIfAny(out string) ([]string, error) {
	return filepath.Glob(filepath.Join(out, table.InferenceDir, "*", "*", "*.parquet"))
}

// reopen starts a collector on a copy of the data and output folders (what
// a kill -9 leaves) and returns it, not yet started.
func reopen(t *testing.T, cfg Config, data, out string) (*Collector, error) {
	t.Helper()
	cfg.DataDir, cfg.OutDir = data, out
	return Open(cfg, zaptest.NewLogger(t), newRegistry())
}

func finish(t *testing.T, c *Collector) {
	t.Helper()
	c.Start()
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestCheckpointHoldsOpenWindows: a checkpoint holds the open windows, so a
// restart replays only the WAL records after it, the WAL behind it is
// deleted, and every acknowledged event is written exactly once.
func TestCheckpointHoldsOpenWindows(t *testing.T) {
	r := newCkptRun(t)
	s := makeScenario(11, 3, 300, testBase, 0)
	r.send(s.phase1)
	r.checkpoint()
	r.send(s.phase2)
	data, out := copyTree(t, r.cfg.DataDir), copyTree(t, r.cfg.OutDir)

	c, err := reopen(t, r.cfg, data, out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := value(t, c.m.replayed), float64(len(s.phase2)); got != want {
		t.Errorf("replayed %v wal records; want the %v after the checkpoint", got, want)
	}
	if c.agg.Windows() != 5 {
		t.Errorf("%d windows open after the restart; want 5", c.agg.Windows())
	}
	if segs, _ := filepath.Glob(filepath.Join(data, walDir, "*.wal")); len(segs) != 1 {
		t.Errorf("wal segments %v; want only the one after the checkpoint", segs)
	}
	finish(t, c)
	rows, _ := readRows(t, out)
	checkTotals(t, rows, r.tr)
	checkQuantiles(t, rows, r.tr)
	checkAudit(t, out, r.tr, true)

	r.h.stop(t)
	rows, _ = readRows(t, r.cfg.OutDir)
	checkTotals(t, rows, r.tr)
	if segs, _ := filepath.Glob(filepath.Join(r.cfg.DataDir, walDir, "*.wal")); len(segs) != 1 {
		t.Errorf("wal segments %v after a clean stop; want one", segs)
	} else if fi, err := os.Stat(segs[0]); err != nil || fi.Size() != 0 {
		t.Errorf("wal not empty after a clean stop: %v", err)
	}
}

// TestCheckpointFallback: a corrupt newest checkpoint is moved aside and
// the one before it, with the WAL after it, gives the same output; a
// corrupt checkpoint with none before it stops the start with an error
// naming the file, never an empty start.
func TestCheckpointFallback(t *testing.T) {
	r := newCkptRun(t)
	s := makeScenario(12, 3, 300, testBase, 0)
	half := len(s.phase1) / 2
	r.send(s.phase1[:half])
	r.checkpoint()
	r.send(s.phase1[half:])
	r.checkpoint()
	r.send(s.phase2)
	data, out := copyTree(t, r.cfg.DataDir), copyTree(t, r.cfg.OutDir)
	files, err := checkpointFiles(data)
	if err != nil || len(files) != 2 {
		t.Fatalf("checkpoint files %v, %v; want two", files, err)
	}
	flip(t, files[0])

	// Only the corrupt one: refuse to start.
	data1 := copyTree(t, data)
	if err := os.Remove(filepath.Join(data1, filepath.Base(files[1]))); err != nil {
		t.Fatal(err)
	}
	_, err = reopen(t, r.cfg, data1, copyTree(t, out))
	var ce *CorruptCheckpointError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(data1, filepath.Base(files[0])) ||
		!strings.Contains(err.Error(), filepath.Base(files[0])) {
		t.Fatalf("open with a corrupt checkpoint: %v; want a CorruptCheckpointError naming it", err)
	}

	c, err := reopen(t, r.cfg, data, out)
	if err != nil {
		t.Fatalf("open with an older checkpoint to fall back to: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(data, quarantineDir, checkpointPrefix+"*")); len(q) != 1 {
		t.Errorf("quarantined %v; want the corrupt checkpoint", q)
	}
	finish(t, c)
	rows, _ := readRows(t, out)
	checkTotals(t, rows, r.tr)
	checkQuantiles(t, rows, r.tr)
	checkAudit(t, out, r.tr, true)
}

// flip inverts a byte in the middle of a file.
func flip(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWALDamageAfterCheckpoint: damage in WAL records after the checkpoint
// loses their events from the output and from the ledger alike, so the
// audit's received counts still match the data (and show the loss); damage
// in segments the checkpoint covers is never read.
func TestWALDamageAfterCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, seg string)
		lost   bool
	}{
		{"torn tail", func(t *testing.T, seg string) {
			fi, _ := os.Stat(seg)
			if err := os.Truncate(seg, fi.Size()-5); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"flipped byte mid-segment", func(t *testing.T, seg string) { flip(t, seg) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCkptRun(t)
			s := makeScenario(13, 3, 300, testBase, 0)
			r.send(s.phase1)
			r.checkpoint()
			r.send(s.phase2)
			data, out := copyTree(t, r.cfg.DataDir), copyTree(t, r.cfg.OutDir)
			segs, _ := filepath.Glob(filepath.Join(data, walDir, "*.wal"))
			tc.damage(t, segs[len(segs)-1])

			c, err := reopen(t, r.cfg, data, out)
			if err != nil {
				t.Fatal(err)
			}
			finish(t, c)
			rows, _ := readRows(t, out)
			var requests, received int64
			for _, row := range rows {
				requests += row.Requests
			}
			files, _ := filepath.Glob(filepath.Join(out, table.AuditDir, "*.parquet"))
			audit, err := table.ReadAudit(files[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range audit {
				received += a.Received
			}
			var sent int64
			for _, a := range r.tr.audit {
				sent += a.Received
			}
			t.Logf("%d events acknowledged, %d written, %d received by the audit", sent, requests, received)
			if requests != received {
				t.Errorf("the output holds %d events but the audit says %d arrived", requests, received)
			}
			if tc.lost && received >= sent {
				t.Errorf("the damage lost nothing: %d received of %d", received, sent)
			}
		})
	}
}

// TestPreReleaseCheckpointRefused: a pre-release checkpoint.json is no
// longer read; a start that finds one and no checkpoint file refuses,
// rather than start empty beside it and count its state again.
func TestPreReleaseCheckpointRefused(t *testing.T) {
	cfg := testConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, legacyCheckpointFile), []byte(`{"version":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "pre-release") {
		t.Fatalf("open beside checkpoint.json: got %v; want a refusal naming it", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWALBounded: with windows open all along, checkpoints keep the WAL to
// the segments after the older of the two checkpoints kept.
func TestWALBounded(t *testing.T) {
	r := newCkptRun(t)
	s := makeScenario(15, 2, 400, testBase.Add(time.Hour), 0) // never closable
	batches := append(s.phase1, s.phase2...)
	step := len(batches) / 8
	for i := 0; i+step <= len(batches); i += step {
		r.send(batches[i : i+step])
		r.checkpoint()
	}
	segs, _ := filepath.Glob(filepath.Join(r.cfg.DataDir, walDir, "*.wal"))
	files, _ := checkpointFiles(r.cfg.DataDir)
	if len(segs) > 2 || len(files) != 2 {
		t.Fatalf("after 8 checkpoints: wal segments %v, checkpoints %v; want at most 2 and 2", segs, files)
	}
}

// TestDecodeCheckpointDamage: a truncated or altered checkpoint, or one of
// another version, is an error, never a panic or a partial state.
func TestDecodeCheckpointDamage(t *testing.T) {
	good := validCheckpoint(t)
	if _, err := decodeCheckpoint(good); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n += 1 + n/20 {
		if _, err := decodeCheckpoint(good[:n]); err == nil {
			t.Fatalf("truncated at %d of %d: decoded", n, len(good))
		}
	}
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x10
		if _, err := decodeCheckpoint(b); err == nil {
			t.Fatalf("byte %d altered: decoded", i)
		}
	}
}

// validCheckpoint encodes a small checkpoint with a ledger and a window.
func validCheckpoint(t testing.TB) []byte {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir, cfg.Now = "127.0.0.1:0", t.TempDir(), t.TempDir(), func() time.Time { return testBase }
	c, err := Open(cfg,
		nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.wal.Close()
	r := testRand()
	for i := 0; i < 20; i++ {
		ev := genEvent(r, [16]byte{1}, uint64(i+1), 0, testBase)
		c.ledger.Accept(ev.EmitterID, ev.Seq, 0, ledger.Arrival{WallNs: 1, IngestNs: 1})
		c.agg.Add(&ev.Inference, ev.TimestampNs, ev.Inference.Neurons)
	}
	// Presences open, gone, and superseded.
	ps := newPresences()
	for _, v := range []wire.Lifecycle{{BeginTs: 1, ModelID: "m", Endpoint: "a"}, {BeginTs: 2, ModelID: "m", Endpoint: "b"},
		{BeginTs: 2, EndTs: 9, ModelID: "m", Endpoint: "b"}, {BeginTs: 5, ModelID: "m", Endpoint: "a"}} {
		ps.apply(&v, func(window.Presence) {})
	}
	return finishCheckpoint(appendCheckpointBody(nil, 3, 20, 2, 77, c.ledger, c.agg.Closable(0, 0, true), ps))
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(validCheckpoint(f))
	f.Add([]byte(checkpointMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		again, err := decodeCheckpoint(finishCheckpoint(appendCheckpointBody(nil, cp.FlushSeq, cp.AppliedLSN, cp.WALSegment, cp.IngestNs, cp.Ledger, cp.Windows, cp.Presences)))
		if err != nil || again.AppliedLSN != cp.AppliedLSN || len(again.Windows) != len(cp.Windows) ||
			!reflect.DeepEqual(again.Presences, cp.Presences) {
			t.Fatalf("re-encoded checkpoint: %v", err)
		}
	})
}

// TestWALDamageBehindCheckpoint: segments kept only for the older
// checkpoint's sake are never read while the newest is intact, so damage
// in them changes nothing.
func TestWALDamageBehindCheckpoint(t *testing.T) {
	r := newCkptRun(t)
	s := makeScenario(16, 3, 300, testBase, 0)
	half := len(s.phase1) / 2
	r.send(s.phase1[:half])
	r.checkpoint()
	r.send(s.phase1[half:])
	r.checkpoint()
	r.send(s.phase2)
	data, out := copyTree(t, r.cfg.DataDir), copyTree(t, r.cfg.OutDir)
	segs, _ := filepath.Glob(filepath.Join(data, walDir, "*.wal"))
	if len(segs) != 2 {
		t.Fatalf("wal segments %v; want the one behind the newest checkpoint and the one after", segs)
	}
	flip(t, segs[0])
	c, err := reopen(t, r.cfg, data, out)
	if err != nil {
		t.Fatal(err)
	}
	if q := value(t, c.m.walQuarantined) + value(t, c.m.walTorn); q != 0 {
		t.Errorf("damage behind the checkpoint was read: %v segments repaired", q)
	}
	finish(t, c)
	rows, _ := readRows(t, out)
	checkTotals(t, rows, r.tr)
	checkAudit(t, out, r.tr, true)
}

// TestDecodeCheckpointVersion2: a checkpoint written before the ingest
// clock (version 2, ledger version 1) still loads, so an upgraded
// collector starts where the old one stopped.
func TestDecodeCheckpointVersion2(t *testing.T) {
	var b []byte
	b = append(b, checkpointMagic...)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint64(b, 4)  // flush seq
	b = binary.LittleEndian.AppendUint64(b, 90) // applied LSN
	b = binary.LittleEndian.AppendUint64(b, 3)  // WAL segment
	b = binary.LittleEndian.AppendUint64(b, 0)  // body length, below
	body := len(b)
	b = binary.AppendUvarint(b, 1) // one emitter, ledger version 1
	b = append(b, bytes.Repeat([]byte{5}, 16)...)
	for _, v := range []uint64{1, 2, 0} {
		b = binary.AppendUvarint(b, v)
	}
	for _, v := range []int64{2, 0, 5000} {
		b = binary.AppendVarint(b, v)
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 0) // no windows
	binary.LittleEndian.PutUint64(b[body-8:], uint64(len(b)-body))
	cp, err := decodeCheckpoint(finishCheckpoint(b))
	if err != nil {
		t.Fatal(err)
	}
	e := cp.Ledger.Emitters[[16]byte(bytes.Repeat([]byte{5}, 16))]
	if cp.FlushSeq != 4 || cp.AppliedLSN != 90 || cp.WALSegment != 3 || cp.IngestNs != 0 || e == nil ||
		e.Received != 2 || e.ActiveNs != 5000 || !cp.Ledger.Seen([16]byte(bytes.Repeat([]byte{5}, 16)), 2) {
		t.Fatalf("unexpected checkpoint %+v, emitter %+v", cp, e)
	}
}
