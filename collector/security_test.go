package collector

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/readout-dev/readout/internal/testpki"
	"github.com/readout-dev/readout/wire"
)

// testPKI is a throwaway CA and a server certificate it signed, as PEM files.
type testPKI = testpki.PKI

func newTestPKI(t *testing.T) *testPKI { return testpki.Write(t, t.TempDir()) }

func TestConfigTLSAndAuthPolicy(t *testing.T) {
	base := DefaultConfig()
	base.Listen, base.DataDir, base.OutDir = "127.0.0.1:9000", "d", "o"
	cases := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"tls pair", func(c *Config) { c.TLSCert, c.TLSKey = "c", "k" }, ""},
		{"cert without key", func(c *Config) { c.TLSCert = "c" }, "TLSCert and TLSKey"},
		{"key without cert", func(c *Config) { c.TLSKey = "k" }, "TLSCert and TLSKey"},
		{"ipv6 wildcard without token", func(c *Config) { c.Listen = "[::]:9000" }, "not loopback-only"},
		{"host name without token", func(c *Config) { c.Listen = "collector.internal:9000" }, "not loopback-only"},
		{"tls does not replace the token", func(c *Config) { c.Listen = "0.0.0.0:9000"; c.TLSCert, c.TLSKey = "c", "k" }, "not loopback-only"},
		{"host name with token", func(c *Config) { c.Listen = "collector.internal:9000"; c.Token = "t" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got error %v; want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadTLSConfig(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t)
	cfg, err := LoadTLSConfig(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion %x; want TLS 1.2", cfg.MinVersion)
	}
	for name, pair := range map[string][2]string{
		"missing cert":    {filepath.Join(t.TempDir(), "none.pem"), p.KeyFile},
		"missing key":     {p.CertFile, filepath.Join(t.TempDir(), "none.pem")},
		"key of another":  {p.CertFile, other.KeyFile},
		"cert is the key": {p.KeyFile, p.KeyFile},
	} {
		if _, err := LoadTLSConfig(pair[0], pair[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// startTLS serves h's collector over TLS with the test PKI's certificate.
func startTLS(t *testing.T, h *harness, p *testPKI) *httptest.Server {
	t.Helper()
	cfg, err := LoadTLSConfig(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.c.Handler())
	srv.Config.ErrorLog = ServerErrorLog(zaptest.NewLogger(t))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestTLSIngest(t *testing.T) {
	p := newTestPKI(t)
	cfg := testConfig(t)
	cfg.Token = "tls-token"
	h := start(t, cfg)
	srv := startTLS(t, h, p)
	body := encodeBatch(t, [16]byte{1}, 1, []wire.Event{genEvent(testRand(), [16]byte{2}, 1, 0, testBase)})
	postWith := func(c *http.Client) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+BatchPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", ContentType)
		req.Header.Set("Authorization", "Bearer tls-token")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	client := func(tc *tls.Config) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	}
	if code, err := postWith(client(&tls.Config{RootCAs: p.Pool})); err != nil || code != http.StatusOK {
		t.Fatalf("trusted client: status %d, %v; want 200", code, err)
	}
	if _, err := postWith(client(&tls.Config{})); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client without the CA: %v; want a certificate verification error", err)
	}
	old := &tls.Config{RootCAs: p.Pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := postWith(client(old)); err == nil {
		t.Fatal("a TLS 1.1 client was served; want a handshake failure")
	}
	// Plain HTTP to the TLS port gets nothing stored.
	if code := post(t, strings.Replace(srv.URL, "https://", "http://", 1), "tls-token", body, false); code != http.StatusBadRequest {
		t.Fatalf("plaintext to the TLS listener: status %d; want 400 from net/http", code)
	}
	if got := value(t, h.c.m.events.WithLabelValues("inference")); got != 1 {
		t.Fatalf("events accepted %v; want 1", got)
	}
}

func TestBearerToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.Token = "right-token"
	h := start(t, cfg)
	body := encodeBatch(t, [16]byte{1}, 1, []wire.Event{genEvent(testRand(), [16]byte{2}, 1, 0, testBase)})
	cases := []struct {
		name, header string
		want         int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer wrong-token", http.StatusUnauthorized},
		{"prefix of the token", "Bearer right-toke", http.StatusUnauthorized},
		{"token plus more", "Bearer right-token2", http.StatusUnauthorized},
		{"no scheme", "right-token", http.StatusUnauthorized},
		{"basic scheme", "Basic right-token", http.StatusUnauthorized},
		{"empty token", "Bearer ", http.StatusUnauthorized},
		{"right", "Bearer right-token", http.StatusOK},
		{"scheme in lower case", "bearer right-token", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+BatchPath, bytes.NewReader(body))
			req.Header.Set("Content-Type", ContentType)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("unexpected status; got %d; want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if got := value(t, h.c.m.batches.WithLabelValues("401")); got != 7 {
		t.Fatalf("401 answers counted %v; want 7", got)
	}
}

// TestNoSecretInLogsOrMetrics drives the collector through accepted,
// unauthorized, malformed and shed requests at debug level and checks that
// neither the token nor a guessed one appears in any log line or metric.
func TestNoSecretInLogsOrMetrics(t *testing.T) {
	const secret, guess = "S3CRET-collector-token", "GUESS-not-the-token"
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := testConfig(t)
	cfg.Token = secret
	reg := prometheus.NewRegistry()
	c, err := Open(cfg, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	srv := httptest.NewServer(c.Handler())
	ops := httptest.NewServer(c.OpsHandler(reg))
	good := encodeBatch(t, [16]byte{1}, 1, []wire.Event{genEvent(testRand(), [16]byte{2}, 1, 0, testBase)})
	for _, tok := range []string{secret, guess, ""} {
		for _, body := range [][]byte{good, []byte("garbage" + secret)} {
			post(t, srv.URL, tok, body, false)
		}
	}
	// The server's own error log, as cmd/collector wires it.
	ServerErrorLog(zap.New(core)).Printf("http: TLS handshake error from 127.0.0.1:1: bad certificate")
	resp, err := http.Get(ops.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	ops.Close()
	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(buf.Bytes())
	}
	if logs.Len() < 3 || !strings.Contains(all.String(), "batch rejected") {
		t.Fatalf("expected the rejections to be logged; got %d lines:\n%s", logs.Len(), all.String())
	}
	for _, s := range []string{secret, guess} {
		if strings.Contains(all.String(), s) {
			t.Errorf("a token appears in the logs:\n%s", all.String())
		}
		if bytes.Contains(metrics, []byte(s)) {
			t.Errorf("a token appears in /metrics")
		}
	}
	if !bytes.Contains(metrics, []byte(`readout_collector_batches_total{code="401"} 4`)) {
		t.Errorf("401 answers not counted as expected in /metrics")
	}
}

func TestServerErrorLogIsRateLimited(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := ServerErrorLog(zap.New(core))
	for range 100 {
		l.Printf("http: TLS handshake error from 10.0.0.1:1234: EOF")
	}
	if logs.Len() != 1 {
		t.Fatalf("100 handshake errors made %d log lines; want 1", logs.Len())
	}
	if e := logs.All()[0]; e.Level != zapcore.WarnLevel || !strings.Contains(e.ContextMap()["error"].(string), "handshake") {
		t.Fatalf("unexpected entry %+v", e)
	}
}
