package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/testpki"
	"github.com/readout-dev/readout/wire"
)

// writePKI writes a throwaway CA and a server certificate it signed for
// 127.0.0.1 into dir, and returns the three PEM file names and the CA pool.
func writePKI(t *testing.T, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	p := testpki.Write(t, dir)
	return p.CAFile, p.CertFile, p.KeyFile, p.Pool
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// collectorBinary builds this command once per test run.
func collectorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "collector-sec-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "collector")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v: %s", buildErr, binPath)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// collectorProc is one run of the collector binary with its stderr kept.
type collectorProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
	ops    string
}

func startDaemon(t *testing.T, args ...string) *collectorProc {
	t.Helper()
	ops := freeAddr(t)
	d := &collectorProc{stderr: new(bytes.Buffer), done: make(chan error, 1), ops: ops}
	d.cmd = exec.Command(collectorBinary(t), append([]string{"--data", t.TempDir(), "--out", t.TempDir(),
		"--metrics-addr", ops, "--log-level", "debug"}, args...)...)
	d.cmd.Stderr = d.stderr // read only after the process has exited
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		select {
		case err := <-d.done:
			t.Fatalf("collector exited at start: %v\n%s", err, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("collector not ready")
	return nil
}

// stop sends SIGTERM and returns everything the process logged.
func (d *collectorProc) stop(t *testing.T) string {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop")
	}
	return d.stderr.String()
}

func (d *collectorProc) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + d.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func testBatch(t *testing.T) []byte {
	t.Helper()
	ev := wire.Event{ID: [16]byte{1}, EmitterID: [16]byte{2}, Seq: 1, TimestampNs: time.Now().UnixNano(),
		Kind: wire.KindInference, Inference: wire.Inference{ModelID: "m", RequestTimeUs: 5}}
	frame, err := wire.EncodeEventCapnp(&ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.EncodeBatch(&wire.Batch{ForwarderID: [16]byte{3}, BatchSeq: 1, EventCount: 1, Events: frame})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServeTLSWithToken runs the binary with --tls-cert, --tls-key and
// --token-file: HTTPS with the right token stores the batch, a wrong or
// missing token is a 401, plaintext gets nothing, and neither the token nor
// a guessed one appears in the logs or /metrics.
func TestServeTLSWithToken(t *testing.T) {
	const secret, guess = "S3CRET-collector-token", "GUESS-wrong-token"
	dir := t.TempDir()
	_, certFile, keyFile, pool := writePKI(t, dir)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600)
	addr := freeAddr(t)
	d := startDaemon(t, "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile, "--token-file", tokenFile)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := testBatch(t)
	post := func(url, token string) int {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/batches", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-capnp")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, url, token string
		want             int
	}{
		{"right token", "https://" + addr, secret, http.StatusOK},
		{"wrong token", "https://" + addr, guess, http.StatusUnauthorized},
		{"no token", "https://" + addr, "", http.StatusUnauthorized},
		{"plaintext", "http://" + addr, secret, http.StatusBadRequest},
	} {
		if got := post(tc.url, tc.token); got != tc.want {
			t.Errorf("%s: status %d; want %d", tc.name, got, tc.want)
		}
	}
	metrics := d.metrics(t)
	if !strings.Contains(metrics, `readout_collector_events_accepted_total{kind="inference"} 1`) {
		t.Errorf("the batch was not stored:\n%s", metrics)
	}
	logs := d.stop(t)
	if !strings.Contains(logs, `"tls":true`) || !strings.Contains(logs, `"auth":true`) {
		t.Errorf("start line does not say tls and auth:\n%s", logs)
	}
	for _, s := range []string{secret, guess} {
		if strings.Contains(logs, s) || strings.Contains(metrics, s) {
			t.Fatalf("a token appears in the logs or metrics:\n%s", logs)
		}
	}
}

// TestInsecureNoAuthWarns: a wildcard listener without a token starts
// only with --insecure-no-auth, and then warns.
func TestInsecureNoAuthWarns(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	d := startDaemon(t, "--listen", "0.0.0.0:"+port, "--insecure-no-auth")
	logs := d.stop(t)
	var warned bool
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "--insecure-no-auth") {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning at start:\n%s", logs)
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, _ := writePKI(t, dir)
	other := t.TempDir()
	_, _, otherKey, _ := writePKI(t, other)
	d, o := filepath.Join(dir, "d"), filepath.Join(dir, "o")
	base := func(listen string, extra ...string) []string {
		return append([]string{"--listen", listen, "--data", d, "--out", o}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", base("127.0.0.1:0", "--tls-cert", certFile), "--tls-cert and --tls-key"},
		{"key without cert", base("127.0.0.1:0", "--tls-key", keyFile), "--tls-cert and --tls-key"},
		{"missing cert file", base("127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none"), "--tls-key", keyFile), "--tls-cert"},
		{"key of another cert", base("127.0.0.1:0", "--tls-cert", certFile, "--tls-key", otherKey), "--tls-cert"},
		{"ipv6 wildcard without token", base("[::]:0"), "not loopback-only"},
		{"host name without token", base("collector.invalid:0"), "not loopback-only"},
		{"tls is no substitute for a token", base("0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile), "not loopback-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			saved := os.Stderr
			os.Stderr = w
			got := run(tc.args)
			os.Stderr = saved
			w.Close()
			msg, _ := io.ReadAll(r)
			if got != exitConfig {
				t.Fatalf("unexpected exit status; got %d; want %d (%s)", got, exitConfig, msg)
			}
			if !strings.Contains(string(msg), tc.want) || strings.Count(strings.TrimSpace(string(msg)), "\n") != 0 {
				t.Fatalf("stderr %q: want one line mentioning %q", msg, tc.want)
			}
		})
	}
}

// TestReadableTokenFileWarns: a token file every user can read is a
// warning at start (not an error: its directory may be closed).
func TestReadableTokenFileWarns(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	os.Chmod(tokenFile, 0o644) // past the umask
	d := startDaemon(t, "--listen", freeAddr(t), "--token-file", tokenFile)
	if logs := d.stop(t); !strings.Contains(logs, "--token-file is readable by all users") {
		t.Fatalf("no warning about the token file's mode:\n%s", logs)
	}
}
