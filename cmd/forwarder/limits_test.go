package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	readoutcollector "github.com/readout-dev/readout/collector"
	"github.com/readout-dev/readout/forwarder/spool"
	"github.com/readout-dev/readout/wire"
)

// plainCollector is a real collector (the collector package and its HTTP
// handler) served over plain HTTP on loopback.
type plainCollector struct {
	url string
	reg *prometheus.Registry
}

func startPlainCollector(t *testing.T, token string) *plainCollector {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := readoutcollector.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir, cfg.Token = "127.0.0.1:0", t.TempDir(), t.TempDir(), token
	c, err := readoutcollector.Open(cfg, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &plainCollector{url: srv.URL, reg: reg}
}

func (c *plainCollector) accepted(t *testing.T) float64 {
	return gathered(t, c.reg, "readout_collector_events_accepted_total", "kind=inference")
}

// tryScrape returns the forwarder's /metrics text, or "" while it does not
// answer yet.
func tryScrape(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sizedEvent encodes an inference event whose frame is exactly size bytes
// (a multiple of 8), padding its model id.
func sizedEvent(t *testing.T, seq uint64, size int) []byte {
	t.Helper()
	ev := wire.Event{ID: [16]byte{2, byte(seq), byte(seq >> 8)}, EmitterID: emitterID, Seq: seq,
		TimestampNs: time.Now().UnixNano(), Kind: wire.KindInference, Inference: wire.Inference{RequestTimeUs: seq}}
	for n := size - 1024; n < size; n++ {
		ev.Inference.ModelID = strings.Repeat("m", n)
		if wire.EncodedSize(&ev) == size {
			b, err := wire.EncodeEventCapnp(&ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != size {
				t.Fatalf("encoded %d bytes; want %d", len(b), size)
			}
			return b
		}
	}
	t.Fatalf("no model id length gives a %d-byte event", size)
	return nil
}

// smallEvent is event() with a current timestamp, so the collector keeps
// it in an open window.
func smallEvent(t *testing.T, seq uint64) []byte {
	b, err := wire.EncodeEventCapnp(&wire.Event{ID: [16]byte{3, byte(seq)}, EmitterID: emitterID, Seq: seq,
		TimestampNs: time.Now().UnixNano(), Kind: wire.KindInference, Inference: wire.Inference{ModelID: "m", RequestTimeUs: seq}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refusedAtStart runs the forwarder binary and wants it to exit at once with
// status 2 and one line on stderr, which it returns. A forwarder that starts
// instead is stopped, and the test fails.
func refusedAtStart(t *testing.T, bin string, args ...string) string {
	t.Helper()
	p := startProc(t, bin, args...)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		t.Fatalf("the forwarder started; want exit 2\n%s", p.stderr)
	}
	msg := p.stderr.String()
	if rc := p.cmd.ProcessState.ExitCode(); rc != 2 {
		t.Fatalf("exit %d; want 2 (stderr %q)", rc, msg)
	}
	if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("stderr %q is not one line", msg)
	}
	return msg
}

// TestMaxMessageSizeAboveCollectorLimit: a --max-message-size above the
// collector's per-event limit (wire.MaxMessageSize) would let one event
// turn a whole batch into a 400 at the collector, and the forwarder would
// quarantine every other emitter's events with it. It is a configuration
// error: exit 2 with one line naming the flag, the value and the limit,
// before the socket or the spool is created.
func TestMaxMessageSizeAboveCollectorLimit(t *testing.T) {
	bin := buildForwarder(t)
	limit := strconv.Itoa(wire.MaxMessageSize)
	for _, v := range []int{wire.MaxMessageSize + 1, wire.MaxMessageSize + 8, 1 << 20, 16 << 20} {
		t.Run(strconv.Itoa(v), func(t *testing.T) {
			dir := t.TempDir()
			sock, spoolDir := filepath.Join(dir, "s.sock"), filepath.Join(dir, "spool")
			msg := refusedAtStart(t, bin, "--socket", sock, "--spool", spoolDir, "--collector", "http://127.0.0.1:1",
				"--max-message-size", strconv.Itoa(v))
			for _, want := range []string{"--max-message-size", strconv.Itoa(v), limit} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q does not mention %q", msg, want)
				}
			}
			for _, p := range []string{sock, spoolDir} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created by a forwarder that should not have started", p)
				}
			}
		})
	}
	// The limit itself, and anything down to 64 bytes, is a valid value.
	for _, v := range []int{64, wire.MaxMessageSize} {
		_, err := parse([]string{"--socket", "s", "--spool", "d", "--collector", "http://127.0.0.1:1",
			"--max-message-size", strconv.Itoa(v)}, io.Discard)
		if err != nil {
			t.Errorf("--max-message-size %d: %v; want it accepted", v, err)
		}
	}
}

// TestLargestEventReachesCollector runs the forwarder binary at the largest
// --max-message-size it accepts against a real collector: an event of
// exactly that size is accepted by the collector together with the small
// events batched with it, and an event 8 bytes larger is refused by the
// forwarder on the socket, never shipped. If the forwarder's bound and the
// collector's per-event limit drift apart, one of the two fails.
func TestLargestEventReachesCollector(t *testing.T) {
	bin := buildForwarder(t)
	col := startPlainCollector(t, "")
	sockDir, err := os.MkdirTemp("", "fwdl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket, ops := filepath.Join(sockDir, "f.sock"), freeAddr(t)
	p := startProc(t, bin, "--socket", socket, "--spool", filepath.Join(t.TempDir(), "spool"), "--collector", col.url,
		"--metrics-addr", ops, "--max-message-size", strconv.Itoa(wire.MaxMessageSize),
		"--batch-linger", "50ms", "--retry-min", "5ms", "--retry-max", "20ms")
	cl := dial(t, socket)
	var buf []byte
	buf = append(buf, smallEvent(t, 1)...)
	buf = append(buf, sizedEvent(t, 2, wire.MaxMessageSize)...)
	buf = append(buf, smallEvent(t, 3)...)
	if _, err := cl.c.Write(buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "events spooled", func() bool { return cl.acked.Load() == 3 })
	waitFor(t, 20*time.Second, "events at the collector", func() bool {
		return col.accepted(t) == 3 || strings.Contains(scrape(t, ops), "readout_forwarder_batches_quarantined_total 1")
	})
	if got := col.accepted(t); got != 3 {
		t.Fatalf("the collector accepted %v events; want 3 (the largest event the forwarder takes, and its batch)\n%s", got, scrape(t, ops))
	}

	// One word more is refused by the forwarder itself.
	cl2 := dial(t, socket)
	if _, err := cl2.c.Write(sizedEvent(t, 4, wire.MaxMessageSize+8)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "oversized frame refused", func() bool {
		return strings.Contains(scrape(t, ops), `readout_forwarder_malformed_frames_total{reason="size"} 1`)
	})
	cl.c.Close()
	cl2.c.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if rc := p.wait(t, 20*time.Second); rc != 0 {
		t.Fatalf("exit %d after SIGTERM; want 0\n%s", rc, p.stderr)
	}
	if got := col.accepted(t); got != 3 {
		t.Fatalf("the collector accepted %v events; want 3", got)
	}
}

// TestSpoolOversizedEventsSetAside: a spool sealed by an earlier forwarder
// that ran with a --max-message-size above the collector's limit can hold
// an event the collector refuses with its whole batch. On replay the
// forwarder moves that event alone to the spool's quarantine and ships the
// rest of its batch.
func TestSpoolOversizedEventsSetAside(t *testing.T) {
	bin := buildForwarder(t)
	col := startPlainCollector(t, "")
	spoolDir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(spoolDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := sizedEvent(t, 2, 100<<10)
	var events []byte
	events = append(events, smallEvent(t, 1)...)
	events = append(events, big...)
	events = append(events, smallEvent(t, 3)...)
	if _, err := sp.Append(time.Now().UnixNano(), 3, events, false); err != nil {
		t.Fatal(err)
	}
	if err := sp.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	sockDir, err := os.MkdirTemp("", "fwdo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	ops := freeAddr(t)
	p := startProc(t, bin, "--socket", filepath.Join(sockDir, "f.sock"), "--spool", spoolDir, "--collector", col.url,
		"--metrics-addr", ops, "--retry-min", "5ms", "--retry-max", "20ms")
	waitFor(t, 20*time.Second, "the spooled batch handled", func() bool {
		m := tryScrape(ops)
		return col.accepted(t) == 2 || strings.Contains(m, "readout_forwarder_batches_quarantined_total 1")
	})
	metrics := scrape(t, ops)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if rc := p.wait(t, 20*time.Second); rc != 0 {
		t.Fatalf("exit %d after SIGTERM; want 0\n%s", rc, p.stderr)
	}
	if got := col.accepted(t); got != 2 {
		t.Fatalf("the collector accepted %v events; want the 2 small ones\n%s\n%s", got, metrics, p.stderr)
	}
	if !strings.Contains(metrics, "readout_forwarder_oversized_events_total 1") {
		t.Errorf("the oversized event was not counted:\n%s", metrics)
	}
	if !strings.Contains(p.stderr.String(), "quarantined") {
		t.Errorf("the oversized event was not logged:\n%s", p.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(spoolDir, "quarantine", "*"))
	if len(files) != 1 {
		t.Fatalf("quarantine holds %v; want one file", files)
	}
	body, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.DecodeBatch(body, 1<<20)
	if err != nil {
		t.Fatalf("quarantined file is not a batch: %v", err)
	}
	if b.EventCount != 1 || !bytes.Equal(b.Events, big) {
		t.Fatalf("quarantined batch holds %d events (%d bytes); want the oversized event alone", b.EventCount, len(b.Events))
	}
}
