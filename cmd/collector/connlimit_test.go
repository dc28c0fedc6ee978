package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/connlimit"
)

// socketOwned reports whether process pid holds, as one of its
// descriptors, the server side of the TCP connection from remote to local
// (both 127.0.0.1). A connection the kernel completed but the process has
// not accepted yet sits in the listen backlog with no descriptor: its row
// in /proc/net/tcp has inode 0.
func socketOwned(t *testing.T, pid int, local, remote net.Addr) bool {
	t.Helper()
	hexAddr := func(a net.Addr) string {
		ta := a.(*net.TCPAddr)
		return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ta.IP.To4()), ta.Port)
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	inode := ""
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == hexAddr(local) && f[2] == hexAddr(remote) {
			inode = f[9]
		}
	}
	if inode == "" {
		t.Fatalf("no socket %s -> %s in /proc/net/tcp", remote, local)
	}
	if inode == "0" {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}

// metricValue reads one sample from the collector's /metrics, -1 when absent.
func metricValue(t *testing.T, d *collectorProc, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(d.metrics(t))
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitMetric(t *testing.T, d *collectorProc, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metricValue(t, d, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("unexpected %s; got %v; want %v", series, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMaxConnsHoldsBackExtraConnections runs the binary with --max-conns 4:
// four idle connections are accepted (each is one of the process's
// descriptors), a fifth completes the TCP handshake in the kernel but is
// not accepted (no descriptor, no handler, no answer) until one of the four
// closes, and then its batch is stored. The gauge and the counter say so.
func TestMaxConnsHoldsBackExtraConnections(t *testing.T) {
	addr := freeAddr(t)
	d := startDaemon(t, "--listen", addr, "--max-conns", "4")
	pid := d.cmd.Process.Pid
	if got := metricValue(t, d, `readout_collector_connections_max{listener="ingest"}`); got != 4 {
		t.Fatalf("unexpected ingest cap; got %v; want 4", got)
	}
	if got := metricValue(t, d, `readout_collector_connections_max{listener="metrics"}`); got != metricsMaxConns {
		t.Fatalf("unexpected metrics cap; got %v; want %d", got, metricsMaxConns)
	}
	if got := metricValue(t, d, `readout_collector_connections_open{listener="metrics"}`); got < 1 {
		t.Fatalf("the scrape's own connection is not counted: %v", got)
	}

	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitMetric(t, d, `readout_collector_connections_open{listener="ingest"}`, 4)
	for i, c := range idle {
		if !socketOwned(t, pid, c.RemoteAddr(), c.LocalAddr()) {
			t.Fatalf("connection %d is open but the collector holds no descriptor for it", i+1)
		}
	}

	fifth, err := net.Dial("tcp", addr) // the kernel completes it: the listener is still open
	if err != nil {
		t.Fatal(err)
	}
	defer fifth.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/batches", bytes.NewReader(testBatch(t)))
	req.Header.Set("Content-Type", "application/x-capnp")
	if err := req.Write(fifth); err != nil { // into the socket buffer; nobody reads it yet
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if socketOwned(t, pid, fifth.RemoteAddr(), fifth.LocalAddr()) {
		t.Fatal("connection 5 over --max-conns 4 took a descriptor in the collector")
	}
	fifth.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := fifth.Read(make([]byte, 1)); n > 0 || !os.IsTimeout(err) {
		t.Fatalf("connection 5 was answered at the cap: %d bytes, %v", n, err)
	}
	if got := metricValue(t, d, `readout_collector_connections_open{listener="ingest"}`); got != 4 {
		t.Fatalf("unexpected open connections at the cap; got %v; want 4", got)
	}
	if got := metricValue(t, d, `readout_collector_connections_waited_total{listener="ingest"}`); got != 0 {
		t.Fatalf("unexpected waited count before a slot freed; got %v; want 0", got)
	}

	idle[0].Close()
	fifth.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(fifth), nil)
	if err != nil {
		t.Fatalf("connection 5 not served once a slot freed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unexpected status; got %d; want %d", resp.StatusCode, http.StatusOK)
	}
	if !socketOwned(t, pid, fifth.RemoteAddr(), fifth.LocalAddr()) {
		t.Fatal("connection 5 served but not held by the collector")
	}
	waitMetric(t, d, `readout_collector_connections_waited_total{listener="ingest"}`, 1)
	waitMetric(t, d, `readout_collector_connections_open{listener="ingest"}`, 4)
	for _, c := range append(idle, fifth) {
		c.Close() // else shutting down waits for them to idle out
	}
	if logs := d.stop(t); !strings.Contains(logs, `"max_conns":4`) {
		t.Fatalf("start line does not give max_conns:\n%s", logs)
	}
}

// fakeNofile is an RLIMIT_NOFILE that tests set.
func fakeNofile(lim *syscall.Rlimit) connlimit.Rlimit {
	return connlimit.Rlimit{
		Get: func(r *syscall.Rlimit) error { *r = *lim; return nil },
		Set: func(r *syscall.Rlimit) error {
			if r.Cur > lim.Max {
				return syscall.EPERM
			}
			*lim = *r
			return nil
		},
	}
}

// TestMaxConnsMustFitFileLimit: with the limit injected, a cap that the
// hard RLIMIT_NOFILE cannot hold (with --metrics-addr's 64 and 64
// reserved) stops the collector at start with exit 2 and one line; one
// that fits under the hard limit raises the soft limit.
func TestMaxConnsMustFitFileLimit(t *testing.T) {
	dir := t.TempDir()
	d, o := filepath.Join(dir, "d"), filepath.Join(dir, "o")
	saved := nofile
	defer func() { nofile = saved }()
	cases := []struct {
		name     string
		soft     uint64
		hard     uint64
		args     []string
		want     string // in the one line on stderr
		wantSoft uint64 // the soft limit after the check
	}{
		{"default cap over a hard limit of 1024", 1024, 1024, nil,
			"--max-conns 1024 does not fit: 1024 for --max-conns + 64 reserved for files = 1088 file descriptors, but the hard RLIMIT_NOFILE is 1024", 1024},
		{"metrics cap counts", 1000, 1000, []string{"--max-conns", "900", "--metrics-addr", freeAddr(t)},
			"900 for --max-conns + 64 for --metrics-addr + 64 reserved for files = 1028 file descriptors", 1000},
		{"soft limit raised to the hard limit", 256, 4096, []string{"--max-conns", "1024", "--metrics-addr", freeAddr(t)}, "", 4096},
		{"fits as it is", 65536, 65536, nil, "", 65536},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim := &syscall.Rlimit{Cur: tc.soft, Max: tc.hard}
			nofile = fakeNofile(lim)
			args := append([]string{"--listen", "127.0.0.1:0", "--data", d, "--out", o}, tc.args...)
			if tc.want == "" {
				opts, err := parseFlags(args)
				if err != nil {
					t.Fatal(err)
				}
				if err := fitDescriptors(opts); err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				code, msg := runCapturingStderr(t, args)
				if code != exitConfig {
					t.Fatalf("unexpected exit status; got %d; want %d (%s)", code, exitConfig, msg)
				}
				if !strings.Contains(msg, tc.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
					t.Fatalf("stderr %q: want one line containing %q", msg, tc.want)
				}
			}
			if lim.Cur != tc.wantSoft || lim.Max != tc.hard {
				t.Fatalf("unexpected limit after the check; got %d/%d; want %d/%d", lim.Cur, lim.Max, tc.wantSoft, tc.hard)
			}
		})
	}
	code, msg := runCapturingStderr(t, []string{"--listen", "127.0.0.1:0", "--data", d, "--out", o, "--max-conns", "0"})
	if code != exitConfig || !strings.Contains(msg, "--max-conns 0 must be at least 1") {
		t.Fatalf("--max-conns 0: exit %d, stderr %q", code, msg)
	}
}

func runCapturingStderr(t *testing.T, args []string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	code := run(args)
	os.Stderr = saved
	w.Close()
	msg, _ := io.ReadAll(r)
	return code, string(msg)
}

// TestMaxConnsUnderRealFileLimit runs the binary under a real hard
// RLIMIT_NOFILE of 300 (set by the shell before exec): the default
// --max-conns is refused at start with exit 2, and --max-conns 100 starts,
// holds 100 connections, stores a batch on one of them and still writes
// its files at SIGTERM inside the 64 descriptors it keeps.
func TestMaxConnsUnderRealFileLimit(t *testing.T) {
	bin := collectorBinary(t)
	limited := func(args ...string) *exec.Cmd {
		return exec.Command("sh", append([]string{"-c", `ulimit -n 300 && exec "$0" "$@"`, bin}, args...)...)
	}
	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := limited("--listen", freeAddr(t), "--data", filepath.Join(dir, "d1"), "--out", filepath.Join(dir, "o1"))
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
		t.Fatalf("default --max-conns under a limit of 300: %v, stderr %q", err, stderr.String())
	}
	if msg := strings.TrimSpace(stderr.String()); strings.Contains(msg, "\n") || !strings.Contains(msg, "hard RLIMIT_NOFILE is 300") {
		t.Fatalf("unexpected stderr %q", msg)
	}

	addr, ops, out := freeAddr(t), freeAddr(t), filepath.Join(dir, "o2")
	stderr.Reset()
	cmd = limited("--listen", addr, "--metrics-addr", ops, "--data", filepath.Join(dir, "d2"), "--out", out,
		"--max-conns", "100")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	d := &collectorProc{cmd: cmd, stderr: &stderr, done: done, ops: ops}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready under the limit")
		}
	}
	if got := metricValue(t, d, `readout_collector_connections_max{listener="ingest"}`); got != 100 {
		t.Fatalf("unexpected ingest cap; got %v; want 100", got)
	}
	var conns []net.Conn
	for range 99 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+addr+"/v1/batches", "application/x-capnp", bytes.NewReader(testBatch(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch on the 100th connection: status %d", resp.StatusCode)
	}
	waitMetric(t, d, `readout_collector_connections_open{listener="ingest"}`, 100)
	for _, c := range conns {
		c.Close() // else shutting down waits for them to idle out
	}
	logs := d.stop(t)
	files, _ := filepath.Glob(filepath.Join(out, "inference", "*", "*", "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("no Parquet file written with 100 connections open under a limit of 300:\n%s", logs)
	}
}

// TestUnauthenticatedConnectionsDoNotKeepSlots: the slots are counted
// before the token, so an answer given without a valid token (401, 405, 404)
// closes the connection: a client without the token cannot hold one of the
// --max-conns slots past one request with keep-alive. With the token the
// connection stays open for the next batch.
func TestUnauthenticatedConnectionsDoNotKeepSlots(t *testing.T) {
	const secret = "S3CRET-conn-token"
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600)
	addr := freeAddr(t)
	d := startDaemon(t, "--listen", addr, "--token-file", tokenFile, "--max-conns", "1")
	cases := []struct {
		name, request string
		code          int
		closed        bool
	}{
		{"no token", "POST /v1/batches HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-capnp\r\nContent-Length: 0\r\n\r\n", 401, true},
		{"wrong method", "GET /v1/batches HTTP/1.1\r\nHost: c\r\n\r\n", 405, true},
		{"other path", "GET / HTTP/1.1\r\nHost: c\r\n\r\n", 404, true},
		{"with token", "POST /v1/batches HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer " + secret +
			"\r\nContent-Type: application/x-capnp\r\nContent-Length: 0\r\n\r\n", 400, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.request)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("unexpected status; got %d; want %d", resp.StatusCode, tc.code)
			}
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = br.ReadByte()
			if closed := err == io.EOF; closed != tc.closed {
				t.Fatalf("connection closed after the answer: %v (%v); want %v", closed, err, tc.closed)
			}
		})
	}
	d.stop(t)
}
