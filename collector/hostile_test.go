package collector

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/readout-dev/readout/wire"
)

// rleBomb builds a zstd frame by hand: a header declaring a window of
// 1<<windowLog bytes (and, when fcs is non-zero, a single segment of fcs
// bytes), then blocks of one repeated byte, each 4 bytes on the wire and
// 128 KiB decompressed, expanding to total bytes.
func rleBomb(windowLog uint, fcs uint64, total int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if fcs != 0 {
		b = append(b, 0xe0) // 8-byte content size, single segment
		b = binary.LittleEndian.AppendUint64(b, fcs)
	} else {
		b = append(b, 0x00, byte((windowLog-10)<<3))
	}
	const block = 128 << 10
	for left := total; left > 0; left -= block {
		n := min(left, block)
		h := uint32(1<<1 | n<<3) // RLE block
		if left <= block {
			h |= 1 // last
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'A')
	}
	return b
}

// postRequest sends a body with the given headers and returns the status.
func postRequest(t *testing.T, url string, body []byte, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+BatchPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHostileBodies posts each kind of hostile body of docs/input-policy.md
// and checks the answer, what was counted, and that nothing was stored.
func TestHostileBodies(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBodyBytes = 4 << 20
	h := start(t, cfg)
	r := testRand()
	fwd := [16]byte{0xaa}
	ev := genEvent(r, [16]byte{3}, 1, 0, testBase)
	good := encodeBatch(t, fwd, 1, []wire.Event{ev})
	frame, err := wire.EncodeEventCapnp(&ev)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(count uint32, events []byte) []byte {
		b, err := wire.EncodeBatch(&wire.Batch{ForwarderID: fwd, BatchSeq: 9, EventCount: count, Events: events})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	huge := ev
	huge.Inference.ModelID = strings.Repeat("m", 1<<20)
	shortID, _ := wire.EncodeBatch(&wire.Batch{ForwarderID: fwd, BatchSeq: 9, EventCount: 1, Events: frame})
	shortID = bytes.Replace(shortID, fwd[:], append([]byte{0xab}, make([]byte, 15)...), 1) // still 16 bytes: control
	cases := []struct {
		name   string
		body   []byte
		header map[string]string
		want   int
		reason string // events_rejected_total label expected to rise, if any
	}{
		{"control: good batch", good, nil, http.StatusOK, ""},
		{"control: same events under another forwarder id", shortID, nil, http.StatusOK, ""},
		{"body truncated mid-message", good[:len(good)/2], nil, http.StatusBadRequest, "truncated"},
		{"body truncated in the segment table", good[:6], nil, http.StatusBadRequest, "truncated"},
		{"events truncated mid-frame", batch(1, frame[:len(frame)-5]), nil, http.StatusBadRequest, "frame_truncated"},
		{"second event truncated", batch(2, append(append([]byte{}, frame...), frame[:20]...)), nil, http.StatusBadRequest, "frame_truncated"},
		{"trailing bytes after the batch", append(append([]byte{}, good...), make([]byte, 64)...), nil, http.StatusBadRequest, "trailing_bytes"},
		{"event count too high", batch(2, frame), nil, http.StatusBadRequest, "event_count"},
		{"event count zero", batch(0, frame), nil, http.StatusBadRequest, "event_count"},
		{"event count max uint32", batch(^uint32(0), frame), nil, http.StatusBadRequest, "event_count"},
		{"an Event, not a Batch", frame, nil, http.StatusBadRequest, "frame_truncated"},
		{"1 MiB model id", encodeBatch(t, fwd, 10, []wire.Event{huge}), nil, http.StatusBadRequest, "frame_size"},
		{"oversized body", make([]byte, 4<<20+1), nil, http.StatusRequestEntityTooLarge, ""},
		{"no content type", good, map[string]string{"Content-Type": ""}, http.StatusUnsupportedMediaType, ""},
		{"text/plain", good, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, ""},
		{"gzip encoding", good, map[string]string{"Content-Encoding": "gzip"}, http.StatusUnsupportedMediaType, ""},
		{"zstd window beyond the decoder's limit", rleBomb(31, 0, 1<<20), map[string]string{"Content-Encoding": "zstd"}, http.StatusBadRequest, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = value(t, h.c.m.rejected.WithLabelValues(tc.reason))
			}
			if got := postRequest(t, h.srv.URL, tc.body, tc.header); got != tc.want {
				t.Fatalf("unexpected status; got %d; want %d", got, tc.want)
			}
			if tc.reason != "" {
				if after := value(t, h.c.m.rejected.WithLabelValues(tc.reason)); after != before+1 {
					t.Fatalf("events_rejected_total{reason=%q} went from %v to %v; want +1", tc.reason, before, after)
				}
			}
		})
	}
	// Only the two control batches were stored; their single event once.
	if got := value(t, h.c.m.events.WithLabelValues("inference")); got != 1 {
		t.Fatalf("events accepted %v; want 1", got)
	}
	if got := value(t, h.c.m.duplicates); got != 1 {
		t.Fatalf("duplicates %v; want 1", got)
	}
}

// TestZstdBombAllocation: a 32 KiB body that expands to 1 GiB is refused
// with 413 once the output passes --max-body-bytes, having allocated about
// that limit, never the expansion.
func TestZstdBombAllocation(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBodyBytes = 1 << 20
	h := start(t, cfg)
	cases := []struct {
		name string
		body []byte
	}{
		{"1 GiB of RLE blocks, 128 KiB window", rleBomb(17, 0, 1<<30)},
		{"1 GiB of RLE blocks, 8 MiB window", rleBomb(23, 0, 1<<30)},
		{"1 GiB of RLE blocks, 64 MiB window", rleBomb(26, 0, 1<<30)},
		{"single segment declaring 1 GiB", rleBomb(0, 1<<30, 1<<30)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) > 64<<10 {
				t.Fatalf("bomb is %d bytes; want a small body", len(tc.body))
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			code := postRequest(t, h.srv.URL, tc.body, map[string]string{"Content-Encoding": "zstd"})
			runtime.ReadMemStats(&after)
			if code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
				t.Fatalf("unexpected status; got %d; want 413 (or 400 for a refused window)", code)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
				t.Fatalf("the request allocated %d MiB; want well under the 1 GiB expansion", alloc>>20)
			}
			t.Logf("status %d, allocated %d KiB", code, (after.TotalAlloc-before.TotalAlloc)>>10)
		})
	}
}

// TestReplayAndBatchSeqGaps: a batch re-sent with the same (forwarder id,
// batch seq, content) is answered 200 and its events are not counted
// again; a forwarder never seen before, whose batch seqs jump, is
// accepted: batch seqs are not a high-water mark.
func TestReplayAndBatchSeqGaps(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	r := testRand()
	em := [16]byte{4}
	first := encodeBatch(t, [16]byte{0xf1}, 7, []wire.Event{genEvent(r, em, 1, 0, testBase), genEvent(r, em, 2, 0, testBase)})
	for i := range 3 {
		if code := post(t, h.srv.URL, "", first, i == 1); code != http.StatusOK {
			t.Fatalf("send %d: status %d; want 200", i, code)
		}
	}
	if got := value(t, h.c.m.events.WithLabelValues("inference")); got != 2 {
		t.Fatalf("after two replays: %v events counted; want 2", got)
	}
	if got := value(t, h.c.m.duplicates); got != 4 {
		t.Fatalf("duplicates %v; want 4", got)
	}
	// An unknown forwarder starting at seq 1000, then going back to 3 and
	// jumping to 1<<40: all accepted.
	other := [16]byte{0xf2}
	for i, bseq := range []uint64{1000, 3, 1 << 40} {
		body := encodeBatch(t, other, bseq, []wire.Event{genEvent(r, em, uint64(3+i), 0, testBase)})
		if code := post(t, h.srv.URL, "", body, false); code != http.StatusOK {
			t.Fatalf("batch seq %d: status %d; want 200", bseq, code)
		}
	}
	if got := value(t, h.c.m.events.WithLabelValues("inference")); got != 5 {
		t.Fatalf("events counted %v; want 5", got)
	}
	h.stop(t)
	rows, _ := readRows(t, cfg.OutDir)
	var n int64
	for _, row := range rows {
		n += row.Requests
	}
	if n != 5 {
		t.Fatalf("files hold %d requests; want 5", n)
	}
}

// FuzzReadBody feeds arbitrary bodies, plain and as zstd, through the
// handler's whole read path (limits, decompression, the one-message check,
// decoding): it must never panic, must answer only 400, 413 or 415 when it
// refuses, and must never accept more output than the body limit.
func FuzzReadBody(f *testing.F) {
	r := testRand()
	good := encodeBatch(f, [16]byte{9}, 1, []wire.Event{genEvent(r, [16]byte{1}, 1, 0, testBase)})
	f.Add(good, false)
	f.Add(zstdBytes(f, good), true)
	f.Add(rleBomb(17, 0, 1<<20), true)
	f.Add(rleBomb(0, 1<<20, 1<<20), true)
	f.Add(append(append([]byte{}, good...), 0, 0, 0, 0), false)
	f.Add(good[:len(good)-3], false)
	const limit = 64 << 10
	c := &Collector{cfg: Config{MaxBodyBytes: limit}}
	f.Fuzz(func(t *testing.T, body []byte, compressed bool) {
		req := httptest.NewRequest(http.MethodPost, BatchPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", ContentType)
		if compressed {
			req.Header.Set("Content-Encoding", "zstd")
		}
		got, herr := c.readBatch(httptest.NewRecorder(), req)
		if herr != nil {
			switch herr.code {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("unexpected status %d: %s", herr.code, herr.msg)
			}
			if herr.code == http.StatusBadRequest && herr.reason == "" {
				t.Fatalf("400 without a reason: %s", herr.msg)
			}
			return
		}
		if len(got.events) != int(got.batch.EventCount) || len(got.batch.Events) > limit {
			t.Fatalf("accepted %d events of %d claimed, %d bytes", len(got.events), got.batch.EventCount, len(got.batch.Events))
		}
	})
}
