// Package ship delivers sealed batches to the collector over HTTP and says
// what the answer means for the batch: delivered, retry, or give up on it.
package ship

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/internal/batchhttp"
)

// Path is where the collector takes batches.
const Path = batchhttp.Path

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
	// RetryAfter is how long the collector asked to be left alone before
	// the batch is sent again (its Retry-After on a 503 or 429); 0 when it
	// did not ask. It is what the collector said, unbounded: the caller
	// decides how long it is willing to wait.
	RetryAfter time.Duration
}

// Options configure a Client.
type Options struct {
	URL      string // the collector's base URL
	Token    string // bearer token; empty sends no Authorization header
	Compress bool   // zstd request bodies
	Timeout  time.Duration
	// RootCAs are the certificate authorities trusted for an https://
	// collector; nil means the system roots. Either way TLS 1.2 is the
	// least accepted and the certificate is always verified.
	RootCAs *x509.CertPool
	// Client is the HTTP client to use; nil means a client with its own
	// transport, cloned from http.DefaultTransport and kept separate from
	// http.DefaultClient. RootCAs is ignored when Client is set.
	Client *http.Client
}

// LoadCAFile reads a PEM bundle of CA certificates into a pool of its own:
// the bundle replaces the system roots rather than adding to them, as
// Prometheus's ca_file and curl's --cacert do, so that a private collector
// is trusted only through its private CA. It fails when the file holds no
// certificate.
func LoadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Client posts batches. It is safe for concurrent use.
type Client struct {
	url     string
	token   string
	hc      *http.Client
	enc     *zstd.Encoder
	bufs    sync.Pool
	timeout time.Duration
}

// New returns a client for the collector at o.URL.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("collector url: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
	c := &Client{url: u.String(), token: o.Token, hc: o.Client, timeout: o.Timeout}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		tr.DialContext = dialBodyConn
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion = max(tr.TLSClientConfig.MinVersion, tls.VersionTLS12)
		if o.RootCAs != nil {
			tr.TLSClientConfig.RootCAs = o.RootCAs
		}
		// Redirects are never followed: net/http would re-send the
		// Authorization header to the same host over plain http://, and
		// no collector redirects. A 3xx is a retry, logged with its status.
		c.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
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

// Send posts one encoded Batch message and classifies the answer. It makes
// one attempt and does not keep body.
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
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, newBody(payload))
	if err != nil {
		return Result{Outcome: Retry, Reason: "request", Err: err}
	}
	req.ContentLength = int64(len(payload))
	req.GetBody = func() (io.ReadCloser, error) { return newBody(payload), nil }
	req.Header.Set("Content-Type", batchhttp.ContentType)
	if c.enc != nil {
		req.Header.Set("Content-Encoding", batchhttp.EncodingZstd)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{Outcome: Retry, Reason: networkReason(err), Err: fmt.Errorf("post batch: %w", err)}
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
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		r.Outcome = Retry
		r.RetryAfter = parseRetryAfter(resp.Header.Get(batchhttp.RetryAfterHeader), time.Now())
	default:
		r.Outcome = Retry
	}
	return r
}

// parseRetryAfter reads a Retry-After value (RFC 9110 10.2.3): a number of
// seconds, or an HTTP date. A value that is neither, or a date already
// past, is 0: retry as usual.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Close releases the client's idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
	if c.enc != nil {
		c.enc.Close()
	}
}

// networkReason labels a failed request: "tls" when the collector's
// certificate was not trusted or the peer does not speak TLS (a
// configuration problem worth its own series), "network" otherwise.
func networkReason(err error) string {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &record) ||
		// net/http replaces the record header error by this text.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return "tls"
	}
	return "network"
}

// dialer has http.DefaultTransport's settings.
var dialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}

// dialBodyConn dials like http.DefaultTransport, wrapping TCP connections
// in a bodyConn.
func dialBodyConn(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &bodyConn{tc}, nil
	}
	return c, nil
}

// body is a request body held in memory, which bodyConn recognises.
type body struct{ bytes.Reader }

func newBody(b []byte) *body {
	r := new(body)
	r.Reset(b)
	return r
}

func (*body) Close() error { return nil }

// bodyConn sends a request body held in memory with one write. net/http
// hands the connection the body wrapped in an io.LimitedReader, which the
// TCPConn's ReadFrom copies through a 32 KiB buffer: a memmove of every
// byte and 32 write calls per megabyte, a twentieth of the forwarder's CPU
// in a profile. For a body within the limit it writes the bytes directly.
type bodyConn struct {
	*net.TCPConn
}

func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if br, ok := lr.R.(*body); ok && int64(br.Len()) <= lr.N {
			n, err := br.WriteTo(c.TCPConn)
			lr.N -= n
			return n, err
		}
	}
	return c.TCPConn.ReadFrom(r)
}
