package collector

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/readout-dev/readout/wire"
)

func TestHandlerStatus(t *testing.T) {
	cfg := testConfig(t)
	cfg.Token = "s3cret"
	cfg.MaxBodyBytes = 64 << 10
	h := start(t, cfg)
	good := encodeBatch(t, [16]byte{1}, 1, []wire.Event{genEvent(testRand(), [16]byte{2}, 1, 0, testBase)})
	badEvent := wire.Event{EmitterID: [16]byte{2}, Seq: 2, Kind: wire.Kind(9)}
	// The fast encoder writes an unknown union member as asked; decoders
	// must reject it.
	frame := wire.AppendEvent(nil, &badEvent)
	badBatch, err := wire.EncodeBatch(&wire.Batch{ForwarderID: [16]byte{1}, BatchSeq: 2, EventCount: 1, Events: frame})
	if err != nil {
		t.Fatal(err)
	}
	wrongCount, _ := wire.EncodeBatch(&wire.Batch{ForwarderID: [16]byte{1}, BatchSeq: 3, EventCount: 2, Events: frame})
	bomb := zstdBytes(t, make([]byte, 1<<20)) // 1 MiB of zeros: a few hundred bytes compressed
	cases := []struct {
		name     string
		method   string
		token    string
		ctype    string
		encoding string
		body     []byte
		want     int
	}{
		{"ok", "POST", "s3cret", ContentType, "", good, http.StatusOK},
		{"ok zstd", "POST", "s3cret", ContentType, "zstd", zstdBytes(t, good), http.StatusOK},
		{"content type with parameters", "POST", "s3cret", ContentType + "; charset=binary", "", good, http.StatusOK},
		{"no token", "POST", "", ContentType, "", good, http.StatusUnauthorized},
		{"wrong token", "POST", "s3cre", ContentType, "", good, http.StatusUnauthorized},
		{"wrong method", "GET", "s3cret", ContentType, "", nil, http.StatusMethodNotAllowed},
		{"wrong content type", "POST", "s3cret", "application/json", "", good, http.StatusUnsupportedMediaType},
		{"unknown encoding", "POST", "s3cret", ContentType, "br", good, http.StatusUnsupportedMediaType},
		{"too large", "POST", "s3cret", ContentType, "", make([]byte, 65<<10), http.StatusRequestEntityTooLarge},
		{"zstd bomb", "POST", "s3cret", ContentType, "zstd", bomb, http.StatusRequestEntityTooLarge},
		{"bad zstd", "POST", "s3cret", ContentType, "zstd", []byte("not zstd at all"), http.StatusBadRequest},
		{"garbage", "POST", "s3cret", ContentType, "", []byte("garbage!garbage!"), http.StatusBadRequest},
		{"empty", "POST", "s3cret", ContentType, "", nil, http.StatusBadRequest},
		{"invalid event", "POST", "s3cret", ContentType, "", badBatch, http.StatusBadRequest},
		{"wrong event count", "POST", "s3cret", ContentType, "", wrongCount, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.srv.URL+BatchPath, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var msg bytes.Buffer
			msg.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("unexpected status; got %d (%q); want %d", resp.StatusCode, msg.String(), tc.want)
			}
			if tc.want == http.StatusBadRequest && strings.Count(strings.TrimSpace(msg.String()), "\n") != 0 {
				t.Fatalf("400 reason is not one line: %q", msg.String())
			}
		})
	}
	if got := value(t, h.c.m.rejected); got < 3 {
		t.Fatalf("rejected events not counted; got %v", got)
	}
}

func TestShedLoad(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueSize = 1
	reg := newRegistry()
	c, err := Open(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	// The loop is not started: the first batch fills the queue, the second
	// must be shed at once rather than wait.
	srv := newServer(c)
	defer srv.Close()
	good := encodeBatch(t, [16]byte{1}, 1, []wire.Event{genEvent(testRand(), [16]byte{2}, 1, 0, testBase)})
	first := make(chan int, 1)
	go func() { first <- post(t, srv.URL, "", good, false) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.intake.queue) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if code := post(t, srv.URL, "", good, false); code != http.StatusServiceUnavailable {
		t.Fatalf("unexpected status with a full queue; got %d; want 503", code)
	}
	c.Start()
	if code := <-first; code != http.StatusOK {
		t.Fatalf("queued batch: got %d; want 200", code)
	}
	srv.Close()
	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := newRegistry()
	m := newMetrics(reg)
	m.rejected.WithLabelValues("union")
	m.groupBatches.Observe(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if len(mfs) < 20 {
		t.Fatalf("only %d metric families gathered", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "readout_collector_") {
			t.Errorf("metric %s lacks the readout_collector_ prefix", mf.GetName())
		}
	}
}
