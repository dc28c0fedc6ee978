package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/wire"
)

// listen accepts one emitter connection on a real Unix socket and sends
// every decoded event to the returned channel.
func listen(t *testing.T) (string, <-chan wire.Event) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fwd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	events := make(chan wire.Event, 16)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf, _ := io.ReadAll(c) // until the emitter closes
		_ = wire.Frames(buf, wire.DefaultMaxMessageSize, func(f []byte) error {
			ev, err := wire.DecodeEventCapnp(f)
			if err == nil && ev.Kind == wire.KindInference {
				events <- ev
			}
			return nil
		})
		close(events)
	}()
	return path, events
}

func TestOneEventPerRequest(t *testing.T) {
	sock, events := listen(t)
	em, err := emitter.New(emitter.Options{SocketPath: sock, ReconnectInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{model: "m", backend: "vllm", coloID: 9, slots: make(chan struct{}, 1), maxQueue: 1, work: 2 * time.Millisecond, em: em}
	srv := httptest.NewServer(s)
	defer srv.Close()

	for _, q := range []string{"stream=true", "stream=false"} {
		req, _ := http.NewRequest("POST", srv.URL+"/infer?"+q, nil)
		req.Header.Set("X-Account-Id", "42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s.maxQueue = 0 // every further request is turned away: a 429 is still one event
	resp, err := http.Post(srv.URL+"/infer", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("unexpected status; got %d; want 429", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = em.Close(ctx) // the test listener never acknowledges; Close returns at the deadline
	var got []wire.Event
	for ev := range events {
		got = append(got, ev)
	}
	if len(got) != 3 {
		t.Fatalf("unexpected events; got %d; want 3", len(got))
	}
	if g := got[0].Inference; !g.Streamed || g.TimeToFirstTokenUs == 0 || g.AccountID != 42 || g.HTTPStatus != 200 || g.OutputTokens == 0 || g.ColoID != 9 {
		t.Fatalf("streamed request: unexpected event %+v", g)
	}
	if g := got[1].Inference; g.Streamed || g.TimeToFirstTokenUs != 0 || g.InferenceTimeUs == 0 || g.Neurons <= 0 {
		t.Fatalf("plain request: unexpected event %+v", g)
	}
	if g := got[2].Inference; g.ErrorCode == 0 || g.HTTPStatus != 429 || g.InferenceTimeUs != 0 {
		t.Fatalf("rejected request: unexpected event %+v", g)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: unexpected seq; got %d; want %d", i, ev.Seq, i+1)
		}
	}
}
