package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/wire"
)

// collector is a test HTTP collector: it can be down (503), dedupes
// batches by (forwarder id, batch seq) and counts events per (emitter, seq)
// across content-distinct batches.
type collector struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	seen map[string]bool
	evs  map[uint64]int
	errs []string
}

func newCollector(t *testing.T) *collector {
	c := &collector{seen: map[string]bool{}, evs: map[uint64]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.handle))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) handle(w http.ResponseWriter, r *http.Request) {
	if c.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "zstd" {
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	data, _ := io.ReadAll(body)
	b, err := wire.DecodeBatch(data, wire.DefaultMaxMessageSize)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k := fmt.Sprintf("%x/%d", b.ForwarderID, b.BatchSeq)
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	wire.Frames(b.Events, wire.DefaultMaxMessageSize, func(f []byte) error {
		ev, err := wire.DecodeEventCapnp(f)
		if err != nil {
			c.errs = append(c.errs, err.Error())
		}
		c.evs[ev.Seq]++
		return nil
	})
}

func (c *collector) counts() map[uint64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[uint64]int, len(c.evs))
	for k, v := range c.evs {
		m[k] = v
	}
	return m
}

func buildForwarder(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "forwarder")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd.Stderr = &syncWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("process did not exit in %s", timeout)
	}
	return -1
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is an emitter stand-in: it writes events with seqs 1..n and
// tracks the forwarder's acknowledgements.
type client struct {
	c     net.Conn
	acked atomic.Uint64
}

func dial(t *testing.T, socket string) *client {
	t.Helper()
	var c net.Conn
	waitFor(t, 10*time.Second, "socket", func() bool {
		var err error
		c, err = net.Dial("unix", socket)
		return err == nil
	})
	cl := &client{c: c}
	go func() {
		var buf []byte
		tmp := make([]byte, 4096)
		for {
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				size, ferr := wire.FrameSize(buf, 1024)
				if ferr != nil || size > len(buf) {
					break
				}
				if a, err := wire.DecodeAck(buf[:size]); err == nil {
					cl.acked.Store(a.DurableSeq)
				}
				buf = buf[size:]
			}
			if err != nil {
				return
			}
		}
	}()
	return cl
}

var emitterID = [16]byte{0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func event(t *testing.T, seq uint64) []byte {
	b, err := wire.EncodeEventCapnp(&wire.Event{ID: [16]byte{1, byte(seq)}, EmitterID: emitterID, Seq: seq,
		TimestampNs: 1, Kind: wire.KindInference, Inference: wire.Inference{ModelID: "m", RequestTimeUs: seq}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKillDuringOutage kills the forwarder with SIGKILL while an emitter
// writes and the collector is down, restarts it, and brings the collector
// back: every acknowledged event arrives, none twice within the
// forwarder's own batches; then the emitter replays what was not
// acknowledged, and after SIGTERM every event it wrote has arrived.
func TestKillDuringOutage(t *testing.T) {
	bin := buildForwarder(t)
	col := newCollector(t)
	col.down.Store(true)
	dir, err := os.MkdirTemp("", "fwdk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "f.sock")
	spoolDir := filepath.Join(t.TempDir(), "spool")
	args := []string{"--socket", socket, "--spool", spoolDir, "--collector", col.srv.URL,
		"--batch-linger", "5ms", "--batch-max-events", "64", "--retry-min", "5ms", "--retry-max", "50ms", "--drain-timeout", "20s"}
	p := startProc(t, bin, args...)
	cl := dial(t, socket)

	const total = 20000
	var written atomic.Uint64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for seq := uint64(1); seq <= total; seq++ {
			if _, err := cl.c.Write(event(t, seq)); err != nil {
				return
			}
			written.Store(seq)
		}
	}()
	waitFor(t, 20*time.Second, "some acks", func() bool { return cl.acked.Load() >= 2000 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t, 10*time.Second)
	<-writerDone
	acked := cl.acked.Load()
	cl.c.Close()
	t.Logf("written %d, acked %d at the kill", written.Load(), acked)

	p = startProc(t, bin, args...)
	col.down.Store(false)
	waitFor(t, 30*time.Second, "acknowledged events delivered", func() bool {
		got := col.counts()
		for s := uint64(1); s <= acked; s++ {
			if got[s] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // let the rest of the spool drain
	for s, n := range col.counts() {
		if n != 1 {
			t.Fatalf("seq %d arrived in %d distinct batches; want 1", s, n)
		}
	}

	// The emitter replays everything not acknowledged.
	cl = dial(t, socket)
	var buf []byte
	for seq := acked + 1; seq <= total; seq++ {
		buf = append(buf, event(t, seq)...)
	}
	if _, err := cl.c.Write(buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "replay acknowledged", func() bool { return cl.acked.Load() == total })
	p.cmd.Process.Signal(syscall.SIGTERM)
	if rc := p.wait(t, 30*time.Second); rc != 0 {
		t.Fatalf("exit status %d after SIGTERM; want 0\n%s", rc, p.stderr)
	}
	got := col.counts()
	for s := uint64(1); s <= total; s++ {
		if got[s] == 0 {
			t.Fatalf("seq %d never arrived", s)
		}
		if s <= acked && got[s] != 1 {
			t.Fatalf("acknowledged seq %d arrived %d times", s, got[s])
		}
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, e := range col.errs {
		t.Error(e)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-token")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	notSock := filepath.Join(dir, "file")
	os.WriteFile(notSock, []byte("x"), 0o600)
	roDir := filepath.Join(dir, "ro")
	os.Mkdir(roDir, 0o500)
	sock := filepath.Join(dir, "s.sock")
	spool := filepath.Join(dir, "spool")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing socket", []string{"--spool", spool, "--collector", "http://x"}, "--socket is required"},
		{"missing spool", []string{"--socket", sock, "--collector", "http://x"}, "--spool is required"},
		{"missing collector", []string{"--socket", sock, "--spool", spool}, "--collector is required"},
		{"bad url", []string{"--socket", sock, "--spool", spool, "--collector", "localhost:80"}, "--collector"},
		{"empty token", []string{"--socket", sock, "--spool", spool, "--collector", "http://x", "--token-file", empty}, "empty"},
		{"bad mode", []string{"--socket", sock, "--spool", spool, "--collector", "http://x", "--socket-mode", "999"}, "--socket-mode"},
		{"not a socket", []string{"--socket", notSock, "--spool", spool, "--collector", "http://x"}, "not a socket"},
		{"bad flag", []string{"--nope"}, "nope"},
	}
	if os.Getuid() != 0 {
		tests = append(tests, struct {
			name string
			args []string
			want string
		}{"unwritable spool", []string{"--socket", sock, "--spool", filepath.Join(roDir, "s"), "--collector", "http://x"}, "spool"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if rc := run(tt.args, &stderr); rc != 2 {
				t.Fatalf("exit %d; want 2 (stderr %q)", rc, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q does not mention %q", msg, tt.want)
			}
			if tt.name != "bad flag" && strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("stderr %q is not one line", msg)
			}
		})
	}
	if b, _ := os.ReadFile(notSock); string(b) != "x" {
		t.Error("a non-socket file at --socket was touched")
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var stderr bytes.Buffer
	if rc := run([]string{"--help"}, &stderr); rc != 0 {
		t.Fatalf("--help exit %d; want 0", rc)
	}
	for _, f := range []string{"socket", "spool", "collector", "metrics-addr", "token-file", "socket-mode", "allow-uid",
		"max-conns", "idle-timeout", "frame-timeout", "batch-max-events", "batch-max-bytes", "batch-linger",
		"spool-max-bytes", "compress", "ship-concurrency", "drain-timeout", "log-level", "max-message-size", "ca-file",
		"insecure-plaintext-token", "report-addr", "report-token-file", "report-insecure-no-auth"} {
		if !strings.Contains(stderr.String(), "-"+f) {
			t.Errorf("--help does not explain --%s", f)
		}
	}
}
