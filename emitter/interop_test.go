package emitter

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// TestInteropCapnpDecodesEmitterBytes records the raw bytes an emitter
// writes to its socket and has the reference `capnp decode` read them.
func TestInteropCapnpDecodesEmitterBytes(t *testing.T) {
	bin, err := exec.LookPath("capnp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("capnp is not on PATH (apt-get install capnproto): %v", err)
		}
		t.Skip("capnp is not on PATH; install the capnproto package")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
	if err != nil {
		t.Fatalf("locate go-capnp's std schemas: %v", err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "std")
	schema, err := filepath.Abs(filepath.Join("..", "schema", "events.capnp"))
	if err != nil {
		t.Fatal(err)
	}

	// The test forwarder on a real socket, keeping every byte it reads.
	path := socketPath(t)
	l := listen(t, path, false)
	l.set(func() { l.record = true })

	e := newEmitter(t, Options{SocketPath: path, EmitterID: [16]byte{0xde, 0xad, 0xbe, 0xef, 15: 1}})
	ev := testEvent(77)
	ev.ModelID = "@cf/baai/bge-base-en-v1.5"
	ev.Neurons = 0.125
	ev.ErrorCode, ev.HTTPStatus = 3040, 429
	e.EmitAt(time.Unix(1_700_000_000, 0), &ev)
	e.EmitLifecycle(&wire.Lifecycle{BeginTs: 5, ModelID: "@cf/openai/whisper", Hostname: "gpu-1"})
	ev2 := testEvent(78)
	e.Emit(&ev2)
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	stream := l.rawBytes()
	cmd := exec.Command(bin, "decode", "--short", "-I"+std, schema, "Event")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil {
		t.Fatalf("capnp decode: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != 4 {
		t.Fatalf("unexpected message count %d; want 4:\n%s", len(lines), text)
	}
	emitterID := `emitterId = "\336\255\276\357\000\000\000\000\000\000\000\000\000\000\000\001"`
	wants := [][]string{
		{emitterID, "timestampNs = 1700000000000000000", "seq = 1", "droppedTotal = 0", "accountId = 77",
			`modelId = "@cf/baai/bge-base-en-v1.5"`, "neurons = 0.125", "errorCode = 3040", "httpStatus = 429",
			"requestSource = worker", "streamed = true", `backend = "vllm"`, `modelContainerId = "c-1"`},
		{emitterID, "seq = 2", `lifecycle = (beginTs = 5, endTs = 0, eventType = endpoint, modelId = "@cf/openai/whisper", hostname = "gpu-1")`},
		{emitterID, "seq = 3", "accountId = 78"},
		{emitterID, "seq = 3", "droppedTotal = 0", "closed = void"},
	}
	for i, want := range wants {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Fatalf("message %d lacks %q:\n%s", i+1, w, lines[i])
			}
		}
		if !strings.Contains(lines[i], `id = "`) {
			t.Fatalf("message %d has no id: %s", i+1, lines[i])
		}
	}
}
