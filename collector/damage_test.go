package collector

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// TestWALDamageAtStart: a torn tail (a crash mid-append) is cut away and
// nothing acknowledged is lost; a record damaged mid-file is quarantined and
// the collector still starts (never a crash loop).
func TestWALDamageAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cases := []struct {
		name           string
		damage         func(b []byte) []byte
		wantQuarantine bool
		wantBatches    int // acknowledged batches whose events survive
	}{
		{"torn tail", func(b []byte) []byte { return append(b, 9, 0, 0, 0, 1, 2, 3) }, false, 2},
		{"flipped byte in the first record", func(b []byte) []byte { b[40] ^= 0xff; return b }, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
			// Inside the 10-minute future bound: windows stay open, events stay in the WAL.
			base := time.Now().UTC().Truncate(time.Minute).Add(5 * time.Minute)
			r := testRand()
			batches := [][]wire.Event{
				{genEvent(r, [16]byte{1}, 1, 0, base), genEvent(r, [16]byte{1}, 2, 0, base)},
				{genEvent(r, [16]byte{1}, 3, 0, base)},
			}
			p := startProc(t, data, out)
			for i, b := range batches {
				if code := postRaw(p.url, encodeBatch(t, [16]byte{2}, uint64(i+1), b)); code != http.StatusOK {
					t.Fatalf("status %d", code)
				}
			}
			p.cmd.Process.Kill()
			p.killed(t)
			segs, _ := filepath.Glob(filepath.Join(data, "wal", "*.wal"))
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			p = startProc(t, data, out)
			p.term(t)
			q, _ := filepath.Glob(filepath.Join(data, "quarantine", "*"))
			if (len(q) > 0) != tc.wantQuarantine {
				t.Fatalf("quarantined %v; want quarantine %v", q, tc.wantQuarantine)
			}
			tr := newTruth()
			for _, b := range batches[:tc.wantBatches] {
				for j := range b {
					tr.deliver(&b[j])
				}
			}
			rows, _ := readRows(t, out)
			checkTotals(t, rows, tr)
		})
	}
}
