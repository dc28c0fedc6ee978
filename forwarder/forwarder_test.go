package forwarder

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// capnpEncode runs the reference tool on text-format Events.
func capnpEncode(t *testing.T, texts []string) []byte {
	t.Helper()
	if _, err := exec.LookPath("capnp"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("capnp not on PATH")
		}
		t.Skip("capnp not on PATH")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
	if err != nil {
		t.Fatalf("go list capnp: %v", err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "std")
	cmd := exec.Command("capnp", "encode", "-I"+std, "schema/events.capnp", "Event")
	cmd.Dir = ".."
	cmd.Stdin = strings.NewReader(strings.Join(texts, "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	bin, err := cmd.Output()
	if err != nil {
		t.Fatalf("capnp encode: %v: %s", err, stderr.String())
	}
	return bin
}

func TestCapnpEncodedEventsArriveIntact(t *testing.T) {
	texts := []string{
		`(id = 0x"0102030405060708090a0b0c0d0e0f10", timestampNs = 1700000000000000000, emitterId = 0x"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", seq = 1, droppedTotal = 0, inference = (accountId = 42, modelId = "@cf/meta/llama", requestTimeUs = 1500, neurons = 2.5, httpStatus = 200, backend = "vllm", streamed = true, requestSource = worker, inputTokens = 10, outputTokens = 20))`,
		`(id = 0x"0102030405060708090a0b0c0d0e0f11", timestampNs = 1700000000000000001, emitterId = 0x"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", seq = 2, droppedTotal = 1, lifecycle = (beginTs = 5, eventType = endpoint, modelId = "m", hostname = "h"))`,
		`(timestampNs = 1700000000000000002, inference = (modelId = "anonymous"))`,
		`(emitterId = 0x"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", seq = 3, droppedTotal = 1, closed = void)`,
	}
	raw := capnpEncode(t, texts)
	var want [][]byte
	if err := wire.Frames(raw, wire.DefaultMaxMessageSize, func(fr []byte) error {
		want = append(want, bytes.Clone(fr))
		return nil
	}); err != nil {
		t.Fatalf("capnp output does not frame: %v", err)
	}
	if len(want) != len(texts) {
		t.Fatalf("capnp produced %d frames; want %d", len(want), len(texts))
	}
	tc := newTestCollector(t)
	r := startForwarder(t, testConfig(t, tc.URL()))
	e := dialEmitter(t, r.f.cfg.Socket, 1)
	if _, err := e.c.Write(raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "acks", func() bool { return e.acked.Load() == 3 && e.closed.Load() })
	r.stop(t)
	tc.check()
	tc.mu.Lock()
	got := tc.frames
	tc.mu.Unlock()
	sortFrames(got)
	sortFrames(want)
	if len(got) != len(want) {
		t.Fatalf("collector got %d frames; want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d differs from what capnp encoded", i)
		}
	}
	if n := r.metric(t, "readout_forwarder_anonymous_events_received_total"); n != 1 {
		t.Errorf("anonymous events = %v; want 1", n)
	}
	if n := r.metric(t, "readout_forwarder_events_received_total"); n != 3 {
		t.Errorf("events received = %v; want 3", n)
	}
	if n := r.metric(t, "readout_forwarder_closed_messages_received_total"); n != 1 {
		t.Errorf("closed messages = %v; want 1", n)
	}
}

func sortFrames(f [][]byte) {
	sort.Slice(f, func(i, j int) bool { return bytes.Compare(f[i], f[j]) < 0 })
}

func TestManyEmittersAckedAndShipped(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.BatchMaxEvents = 100 // many batches, several in flight
	r := startForwarder(t, cfg)
	const perEmitter = 2000
	var es []*emitter
	for i := range 4 {
		e := dialEmitter(t, cfg.Socket, byte(i+1))
		es = append(es, e)
	}
	for round := 0; round < perEmitter/100; round++ {
		for _, e := range es {
			e.send(t, 100)
		}
	}
	for _, e := range es {
		waitFor(t, 10*time.Second, "acks", func() bool { return e.acked.Load() == perEmitter })
	}
	r.stop(t)
	tc.check()
	got, _ := tc.snapshot()
	if len(got) != 4*perEmitter {
		t.Fatalf("collector got %d distinct events; want %d", len(got), 4*perEmitter)
	}
	if n := r.metric(t, "readout_forwarder_acks_sent_total"); n == 0 {
		t.Error("no acks counted")
	}
}

func TestDrainAcksBeforeClosing(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.BatchLinger = 50 * time.Millisecond
	r := startForwarder(t, cfg)
	e := dialEmitter(t, cfg.Socket, 1)
	e.send(t, 25)
	r.stop(t) // at once: the events are still being batched
	select {
	case <-e.readErr: // the forwarder hung up
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after the drain")
	}
	if got := e.acked.Load(); got != 25 {
		t.Fatalf("acked %d before the connection closed; want 25", got)
	}
	if got, _ := tc.snapshot(); len(got) != 25 {
		t.Fatalf("collector got %d events; want 25", len(got))
	}
}
