// Package ship delivers sealed batches to the collector over HTTP and says
// what the answer means for the batch: delivered, retry, or give up on it.
package ship

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Path is where the collector takes batches.
const Path = "/v1/batches"

// Outcome is what a delivery attempt means for the batch.
type Outcome int

const (
	// Delivered: the collector has the batch durably; release it.
	Delivered Outcome = iota
	// Retry: a transient failure (network, 429, 5xx); back off and resend.
	Retry
	// Unauthorized: 401 or 403, a configuration error; retry slowly.
	Unauthorized
	// Malformed: 400; resending will never help, quarantine the batch.
	Malformed
	// TooLarge: 413; split the batch.
	TooLarge
)

// Result describes one attempt.
type Result struct {
	Outcome Outcome
	Status  int    // HTTP status, 0 when no response arrived
	Reason  string // metric label: "network", "status_503", ...
	Err     error  // why, for the log; nil when delivered
}

// Options configure a Client.
type Options struct {
	URL      string // the collector's base URL
	Token    string // bearer token; empty sends no Authorization header
	Compress bool   // zstd request bodies
	Timeout  time.Duration
	// Client is the HTTP client to use; nil means a client with its own
	// transport, kept separate from http.DefaultClient.
	Client *http.Client
}

// Client posts batches. It is safe for concurrent use.
type Client struct {
	url    string
	token  string
	hc     *http.Client
	enc    *zstd.Encoder
	bufs   sync.Pool
	tmeout time.Duration
}

// New returns a client for the collector at o.URL.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("collector url: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
	c := &Client{url: u.String(), token: o.Token, hc: o.Client, tmeout: o.Timeout}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		c.hc = &http.Client{Transport: tr}
	}
	if c.tmeout <= 0 {
		c.tmeout = 30 * time.Second
	}
	if o.Compress {
		// EncodeAll is safe for concurrent use; one encoder serves every
		// shipping goroutine.
		c.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	}
	return c, nil
}

// Send posts one encoded Batch message and classifies the answer.
func (c *Client) Send(ctx context.Context, body []byte) Result {
	payload := body
	var buf *[]byte
	if c.enc != nil {
		buf, _ = c.bufs.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
		*buf = c.enc.EncodeAll(body, (*buf)[:0])
		payload = *buf
		defer c.bufs.Put(buf)
	}
	ctx, cancel := context.WithTimeout(ctx, c.tmeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return Result{Outcome: Retry, Reason: "request", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-capnp")
	if c.enc != nil {
		req.Header.Set("Content-Encoding", "zstd")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{Outcome: Retry, Reason: "network", Err: fmt.Errorf("post batch: %w", err)}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r := Result{Status: resp.StatusCode, Reason: fmt.Sprintf("status_%d", resp.StatusCode)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.Outcome, r.Reason = Delivered, ""
		return r
	}
	r.Err = fmt.Errorf("collector answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	switch resp.StatusCode {
	case http.StatusBadRequest:
		r.Outcome = Malformed
	case http.StatusUnauthorized, http.StatusForbidden:
		r.Outcome = Unauthorized
	case http.StatusRequestEntityTooLarge:
		r.Outcome = TooLarge
	default:
		r.Outcome = Retry
	}
	return r
}

// Close releases the client's idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
	if c.enc != nil {
		c.enc.Close()
	}
}
