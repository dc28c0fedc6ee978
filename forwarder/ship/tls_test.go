package ship

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRootCAs: with the server's CA the batch is delivered; with the
// system roots the certificate fails verification, which is a retry
// labelled "tls", and the server never sees a request.
func TestRootCAs(t *testing.T) {
	var requests int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++ }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	pool, err := LoadCAFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pool    *x509.CertPool
		outcome Outcome
		reason  string
	}{
		{"trusted", pool, Delivered, ""},
		{"system roots", nil, Retry, "tls"},
	} {
		c, err := New(Options{URL: srv.URL, RootCAs: tc.pool})
		if err != nil {
			t.Fatal(err)
		}
		res := c.Send(context.Background(), []byte("x"))
		c.Close()
		if res.Outcome != tc.outcome || res.Reason != tc.reason {
			t.Errorf("%s: got outcome %v reason %q (%v); want %v %q", tc.name, res.Outcome, res.Reason, res.Err, tc.outcome, tc.reason)
		}
	}
	if requests != 1 {
		t.Fatalf("server saw %d requests; want 1 (the trusted one)", requests)
	}
}

// TestPlaintextPeer: an https URL whose server speaks plain HTTP fails as
// "tls", never falls back to plaintext.
func TestPlaintextPeer(t *testing.T) {
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++ }))
	defer srv.Close()
	c, err := New(Options{URL: strings.Replace(srv.URL, "http://", "https://", 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.Send(context.Background(), []byte("x")); res.Outcome != Retry || res.Reason != "tls" {
		t.Fatalf("got outcome %v reason %q (%v); want a tls retry", res.Outcome, res.Reason, res.Err)
	}
	if requests != 0 {
		t.Fatalf("a plaintext request reached the server")
	}
}

func TestLoadCAFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600)
	for name, path := range map[string]string{"missing": filepath.Join(dir, "none"), "junk": junk} {
		if _, err := LoadCAFile(path); err == nil || !strings.Contains(err.Error(), "--ca-file") {
			t.Errorf("%s: got %v; want a --ca-file error", name, err)
		}
	}
}

// TestRedirectsNotFollowed: a collector (or a proxy in front of it) that
// redirects gets a retry, and the token is never sent to the target.
func TestRedirectsNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.Send(context.Background(), []byte("x")); res.Outcome != Retry || res.Status != http.StatusTemporaryRedirect {
		t.Fatalf("got outcome %v status %d; want a retry on 307", res.Outcome, res.Status)
	}
	if leaked.Load() {
		t.Fatal("the redirect was followed with the token")
	}
}
