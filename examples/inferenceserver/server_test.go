package main

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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/servermetrics"
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
	m, err := servermetrics.New(nil, servermetrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.useMetrics(m, srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}

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

// TestMetrics serves /metrics beside /infer, as main does, and checks after
// a few requests that every readout_server_* name is there with the
// expected values, and that promlint finds nothing.
func TestMetrics(t *testing.T) {
	sock, _ := listen(t)
	reg := prometheus.NewRegistry()
	em, err := emitter.New(emitter.Options{SocketPath: sock, ReconnectInterval: 20 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = em.Close(ctx) // the test listener never acknowledges
	}()
	m, err := servermetrics.New(reg, servermetrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{model: "m", backend: "vllm", coloID: 9, slots: make(chan struct{}, 1), maxQueue: 1, work: 2 * time.Millisecond, em: em}
	srv := httptest.NewServer(routes(s, reg))
	defer srv.Close()
	if err := s.useMetrics(m, srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}

	post := func() {
		resp, err := http.Post(srv.URL+"/infer", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	post()
	post()
	s.maxQueue = 0 // turned away: a 429
	post()
	m.Sample() // what Run does every 500 ms; no request is in flight now

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, %v", resp.StatusCode, err)
	}
	text := string(body)
	for _, name := range []string{
		"requests_total", "errors_total", "inferences_total", "inferences_by_health_total",
		"turnstile_outcomes_total", "full_fraction", "total_permits", "mean_used_permits",
		"mean_queue_size", "forward_failures_total", "endpoints_removed", "external_endpoints",
	} {
		if !strings.Contains(text, "\n# TYPE readout_server_"+name+" ") {
			t.Errorf("/metrics has no readout_server_%s", name)
		}
	}
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, line := range []string{
		`readout_server_requests_total{status="200"} 2`,
		`readout_server_requests_total{status="429"} 1`,
		`readout_server_errors_total{http_status="429",internal_code="3040"} 1`,
		`readout_server_inferences_total{backend="vllm"} 2`,
		`readout_server_inferences_by_health_total{health_state="healthy"} 2`,
		`readout_server_turnstile_outcomes_total{outcome="leased"} 2`,
		`readout_server_turnstile_outcomes_total{outcome="queued"} 0`,
		`readout_server_turnstile_outcomes_total{outcome="rejected"} 1`,
		`readout_server_total_permits{model_id="m"} 1`,
		`readout_server_full_fraction{model_id="m"} 0`,
		`readout_server_mean_used_permits{model_id="m"} 0`,
		`readout_server_mean_queue_size{model_id="m"} 0`,
		`readout_server_external_endpoints{health="healthy",host="` + host + `",port="` + port + `"} 1`,
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
