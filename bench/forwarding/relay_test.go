package forwarding

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/wire"
)

// batchBody encodes a batch of n small events with the given seq.
func batchBody(t *testing.T, seq uint64, n int) []byte {
	t.Helper()
	var events []byte
	for i := range n {
		ev := wire.Event{EmitterID: [16]byte{1}, Seq: uint64(i + 1), Kind: wire.KindInference}
		ev.Inference.ModelID = "m"
		events = wire.AppendEvent(events, &ev)
	}
	body, err := wire.EncodeBatch(&wire.Batch{ForwarderID: [16]byte{9}, BatchSeq: seq, EventCount: uint32(n), Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func post(t *testing.T, c *http.Client, addr string, body []byte, zstdOn bool) int {
	t.Helper()
	if zstdOn {
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		body = enc.EncodeAll(body, nil)
		enc.Close()
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/batches", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-capnp")
	if zstdOn {
		req.Header.Set("Content-Encoding", "zstd")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestBatchRelayCountsEachAcknowledgedBatchOnce(t *testing.T) {
	r, err := NewBatchRelay("", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	steps := []struct {
		seq    uint64
		n      int
		zstd   bool
		events int64
	}{
		{1, 3, false, 3},
		{1, 3, true, 3}, // a re-sent batch is not counted again
		{2, 4, true, 7},
	}
	for _, s := range steps {
		if code := post(t, c, r.Addr(), batchBody(t, s.seq, s.n), s.zstd); code != http.StatusNoContent {
			t.Fatalf("batch %d: unexpected status; got %d; want 204", s.seq, code)
		}
		if got := r.Events(); got != s.events {
			t.Fatalf("after batch %d: unexpected events; got %d; want %d", s.seq, got, s.events)
		}
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Done not closed after every wanted event")
	}
	if r.Batches() != 2 || r.Up.Load() == 0 || r.Down.Load() == 0 || r.ReachedAt().IsZero() {
		t.Fatalf("unexpected relay state: batches %d up %d down %d at %v", r.Batches(), r.Up.Load(), r.Down.Load(), r.ReachedAt())
	}
	if code := post(t, c, r.Addr(), []byte("not a batch"), false); code != http.StatusNoContent || r.Undecodable() != 1 {
		t.Fatalf("a malformed body: status %d, undecodable %d", code, r.Undecodable())
	}
}

func TestBatchRelayPassesUpstreamAnswers(t *testing.T) {
	calls := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/batches" || len(b) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if calls == 2 {
			http.Error(w, "shedding load", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	r, err := NewBatchRelay(strings.TrimPrefix(up.URL, "http://"), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	for i, want := range []struct {
		code   int
		events int64
	}{{200, 2}, {503, 2}, {200, 4}} {
		if code := post(t, c, r.Addr(), batchBody(t, uint64(i+1), 2), false); code != want.code {
			t.Fatalf("request %d: unexpected status; got %d; want %d", i, code, want.code)
		}
		if got := r.Events(); got != want.events {
			t.Fatalf("request %d: unexpected events; got %d; want %d", i, got, want.events)
		}
	}
}

func TestSenderSeesEveryConnectionAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	last := []uint64{3, 5}
	go func() {
		for range last {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Acknowledge seqs 1..5 one frame at a time; the stream
				// whose last seq is 3 sees more than it needs.
				for seq := uint64(1); seq <= 5; seq++ {
					a, err := wire.EncodeAck(wire.Ack{DurableSeq: seq})
					if err != nil {
						return
					}
					// Split each frame across two writes.
					_, _ = c.Write(a[:5])
					_, _ = c.Write(a[5:])
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, path, len(last), last)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Acked():
	case <-ctx.Done():
		t.Fatal("Acked never fired")
	}
	if s.AckedAt().IsZero() || s.AckErr() != nil {
		t.Fatalf("unexpected ack state: at %v err %v", s.AckedAt(), s.AckErr())
	}
	if _, err := Dial(ctx, path, 2, []uint64{1}); err == nil {
		t.Fatal("Dial accepted a last-seq list of the wrong length")
	}
}
