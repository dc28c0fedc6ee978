package ship

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		status int
		want   Outcome
	}{
		{200, Delivered}, {204, Delivered}, {400, Malformed}, {401, Unauthorized}, {403, Unauthorized},
		{413, TooLarge}, {429, Retry}, {500, Retry}, {503, Retry},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) }))
			defer srv.Close()
			c, err := New(Options{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res := c.Send(context.Background(), []byte("x"))
			if res.Outcome != tt.want || res.Status != tt.status {
				t.Fatalf("got outcome %d status %d; want %d", res.Outcome, res.Status, tt.want)
			}
			if (res.Err == nil) != (tt.want == Delivered) {
				t.Fatalf("err %v for outcome %d", res.Err, res.Outcome)
			}
		})
	}
}

func TestSendHeadersAndBody(t *testing.T) {
	body := bytes.Repeat([]byte("batch "), 1000)
	tests := []struct {
		name     string
		compress bool
		token    string
	}{
		{"plain", false, ""},
		{"zstd with token", true, "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			var hdr http.Header
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hdr, path = r.Header.Clone(), r.URL.Path
				var rd io.Reader = r.Body
				if r.Header.Get("Content-Encoding") == "zstd" {
					zr, err := zstd.NewReader(r.Body)
					if err != nil {
						w.WriteHeader(400)
						return
					}
					defer zr.Close()
					rd = zr
				}
				got, _ = io.ReadAll(rd)
			}))
			defer srv.Close()
			c, err := New(Options{URL: srv.URL + "/", Token: tt.token, Compress: tt.compress, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if res := c.Send(context.Background(), body); res.Outcome != Delivered {
				t.Fatalf("outcome %d: %v", res.Outcome, res.Err)
			}
			if path != Path {
				t.Errorf("path %q; want %q", path, Path)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("body differs after the round trip")
			}
			if ct := hdr.Get("Content-Type"); ct != "application/x-capnp" {
				t.Errorf("content type %q", ct)
			}
			if want := map[bool]string{true: "zstd"}[tt.compress]; hdr.Get("Content-Encoding") != want {
				t.Errorf("content encoding %q; want %q", hdr.Get("Content-Encoding"), want)
			}
			if want := map[bool]string{true: "Bearer " + tt.token}[tt.token != ""]; hdr.Get("Authorization") != want {
				t.Errorf("authorization %q; want %q", hdr.Get("Authorization"), want)
			}
		})
	}
}

func TestSendNetworkErrorRetries(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(Options{URL: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.Send(context.Background(), []byte("x")); res.Outcome != Retry || res.Reason != "network" {
		t.Fatalf("got %+v; want a network retry", res)
	}
}

// TestSendRetryAfter: a 503 or 429 carries the collector's Retry-After in
// the result, in seconds or as an HTTP date; other answers carry none.
func TestSendRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header string
		min    time.Duration
		max    time.Duration
	}{
		{"503 seconds", 503, "2", 2 * time.Second, 2 * time.Second},
		{"429 seconds", 429, "7", 7 * time.Second, 7 * time.Second},
		{"503 date", 503, time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), 8 * time.Second, 10 * time.Second},
		{"503 without", 503, "", 0, 0},
		{"503 garbage", 503, "soon", 0, 0},
		{"503 negative", 503, "-3", 0, 0},
		{"503 date past", 503, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"500 ignores it", 500, "5", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			c, err := New(Options{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res := c.Send(context.Background(), []byte("x"))
			if res.Outcome != Retry {
				t.Fatalf("unexpected outcome; got %d; want %d", res.Outcome, Retry)
			}
			if res.RetryAfter < tt.min || res.RetryAfter > tt.max {
				t.Fatalf("unexpected retry after; got %s; want %s to %s", res.RetryAfter, tt.min, tt.max)
			}
		})
	}
}
