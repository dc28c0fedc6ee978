package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/netpolicy"
)

// These tests never send a byte to a non-loopback address: the forwarders
// pointed at 192.0.2.1 (TEST-NET-1) or at a name other than localhost are
// either refused before they open anything, or given no events, so they
// have nothing to ship; the metrics check that no request was attempted.

const plainSecret = "S3CRET-plaintext-token"

func writeToken(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(plainSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPlaintextTokenRefused: a token, a plain http:// collector URL and a
// host that is not loopback-only mean the token would cross the network in
// clear text. The forwarder refuses to start: exit 2, one line saying why
// and what to do, before it creates its socket or its spool, so it never
// connects anywhere.
func TestPlaintextTokenRefused(t *testing.T) {
	bin := buildForwarder(t)
	tokenFile := writeToken(t)
	for _, collector := range []string{
		"http://192.0.2.1:7070",
		"http://collector.internal:7070",
		"HTTP://collector.internal:7070/base",
		"http://[2001:db8::1]:7070",
		"http://0.0.0.0:7070",
		"http://127.0.0.1.nip.io:7070", // a name, whatever it resolves to
	} {
		t.Run(collector, func(t *testing.T) {
			dir := t.TempDir()
			sock, spoolDir := filepath.Join(dir, "s.sock"), filepath.Join(dir, "spool")
			msg := refusedAtStart(t, bin, "--socket", sock, "--spool", spoolDir, "--collector", collector,
				"--token-file", tokenFile)
			for _, want := range []string{"clear text", "https://", "--ca-file", "--insecure-plaintext-token"} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, plainSecret) {
				t.Errorf("stderr repeats the token: %q", msg)
			}
			for _, p := range []string{sock, spoolDir} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created by a forwarder that should not have started", p)
				}
			}
		})
	}
}

// TestPlaintextTokenAllowed: the forwarder starts with a token over
// http:// to a loopback collector (and ships to it), with https://, without
// a token, and with --insecure-plaintext-token, which it warns about at
// start.
func TestPlaintextTokenAllowed(t *testing.T) {
	bin := buildForwarder(t)
	tokenFile := writeToken(t)
	const warning = "--insecure-plaintext-token: the bearer token goes to the collector in clear text"

	// start runs the forwarder until it is ready, and returns it with its
	// metrics address and socket.
	start := func(t *testing.T, extra ...string) (*proc, string, string) {
		t.Helper()
		sockDir, err := os.MkdirTemp("", "fwdp")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sockDir) })
		socket, ops := filepath.Join(sockDir, "f.sock"), freeAddr(t)
		args := append([]string{"--socket", socket, "--spool", filepath.Join(t.TempDir(), "spool"), "--metrics-addr", ops,
			"--batch-linger", "5ms", "--retry-min", "5ms", "--retry-max", "20ms", "--drain-timeout", "2s"}, extra...)
		p := startProc(t, bin, args...)
		waitFor(t, 10*time.Second, "forwarder ready", func() bool {
			select {
			case <-p.done:
				t.Fatalf("the forwarder exited with %d; want it running\n%s", p.cmd.ProcessState.ExitCode(), p.stderr)
			default:
			}
			return strings.Contains(tryScrape(ops), "readout_forwarder_spool_bytes")
		})
		return p, ops, socket
	}
	stop := func(t *testing.T, p *proc) string {
		t.Helper()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if rc := p.wait(t, 20*time.Second); rc != 0 {
			t.Fatalf("exit %d after SIGTERM; want 0\n%s", rc, p.stderr)
		}
		out := p.stderr.String()
		if strings.Contains(out, plainSecret) {
			t.Fatalf("the token appears in the log:\n%s", out)
		}
		return out
	}
	// idle starts a forwarder that is given no events, so it sends nothing
	// to its collector, and checks that it attempted no request.
	idle := func(t *testing.T, extra ...string) string {
		t.Helper()
		p, ops, _ := start(t, extra...)
		time.Sleep(100 * time.Millisecond)
		if m := scrape(t, ops); !strings.Contains(m, "readout_forwarder_ship_request_duration_seconds_count 0") {
			t.Fatalf("the forwarder attempted a request:\n%s", m)
		}
		return stop(t, p)
	}

	t.Run("token over http to 127.0.0.1 ships", func(t *testing.T) {
		col := startPlainCollector(t, plainSecret)
		p, _, socket := start(t, "--collector", col.url, "--token-file", tokenFile)
		cl := dial(t, socket)
		var buf []byte
		for seq := uint64(1); seq <= 20; seq++ {
			buf = append(buf, smallEvent(t, seq)...)
		}
		if _, err := cl.c.Write(buf); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "events at the collector", func() bool { return col.accepted(t) == 20 })
		cl.c.Close()
		if out := stop(t, p); strings.Contains(out, "insecure-plaintext-token") {
			t.Fatalf("a loopback collector drew the plaintext warning:\n%s", out)
		}
	})

	t.Run("token over http to localhost ships", func(t *testing.T) {
		if !netpolicy.LoopbackOnly("localhost") {
			t.Skip("localhost does not resolve to loopback addresses only here")
		}
		col := startPlainCollector(t, plainSecret)
		p, _, socket := start(t, "--collector", strings.Replace(col.url, "127.0.0.1", "localhost", 1), "--token-file", tokenFile)
		cl := dial(t, socket)
		if _, err := cl.c.Write(smallEvent(t, 1)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "event at the collector", func() bool { return col.accepted(t) == 1 })
		cl.c.Close()
		if out := stop(t, p); strings.Contains(out, "insecure-plaintext-token") {
			t.Fatalf("a loopback collector drew the plaintext warning:\n%s", out)
		}
	})

	t.Run("--insecure-plaintext-token starts and warns", func(t *testing.T) {
		out := idle(t, "--collector", "http://192.0.2.1:7070", "--token-file", tokenFile, "--insecure-plaintext-token")
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, warning) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, `"level":"warn"`) {
			t.Fatalf("no start-up warning about the plaintext token:\n%s", out)
		}
	})

	t.Run("token over https starts", func(t *testing.T) {
		if out := idle(t, "--collector", "https://192.0.2.1:7070", "--token-file", tokenFile); strings.Contains(out, "insecure-plaintext-token") {
			t.Fatalf("an https collector drew the plaintext warning:\n%s", out)
		}
	})

	t.Run("http without a token starts", func(t *testing.T) {
		if out := idle(t, "--collector", "http://192.0.2.1:7070"); strings.Contains(out, "insecure-plaintext-token") {
			t.Fatalf("a forwarder without a token drew the plaintext warning:\n%s", out)
		}
	})
}
