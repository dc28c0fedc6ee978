package collector

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/internal/batchhttp"
	"github.com/readout-dev/readout/wire"
)

// BatchPath is where forwarders POST batches (see package batchhttp).
const BatchPath = batchhttp.Path

// ContentType is the only body type accepted (see package batchhttp).
const ContentType = batchhttp.ContentType

// Handler returns the HTTP handler for POST /v1/batches. It is safe for
// concurrent use; each request waits for its batch's verdict from the
// ingest loop, so a 200 means the batch is durable.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(BatchPath, c.serveBatch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // see answer
		http.NotFound(w, r)
	})
	return mux
}

type httpError struct {
	code   int
	reason string // metric label for rejected events, "" when not an event problem
	msg    string
}

func (c *Collector) answer(w http.ResponseWriter, code int, msg string) {
	c.m.batches.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="readout"`)
	}
	if code == http.StatusUnauthorized || code == http.StatusMethodNotAllowed {
		// Answered before the token is known to be right: close the
		// connection, so that a client without the token cannot keep one
		// of the --max-conns slots past one request by keeping it alive.
		w.Header().Set("Connection", "close")
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set(batchhttp.RetryAfterHeader, "1")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if msg != "" {
		io.WriteString(w, msg+"\n")
	}
}

func (c *Collector) serveBatch(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		c.answer(w, http.StatusMethodNotAllowed, "POST a Batch")
		return
	}
	if !c.authorized(r) {
		c.answer(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	select {
	case c.intake.inflight <- struct{}{}:
		defer func() { <-c.intake.inflight }()
	default:
		c.answer(w, http.StatusServiceUnavailable, "too many batches in flight")
		return
	}
	req, herr := c.readBatch(w, r)
	if req != nil {
		// Whatever the verdict, the ingest loop no longer reads the body
		// once the handler has it.
		defer req.release()
	}
	if herr != nil {
		if herr.reason != "" {
			c.m.rejected.WithLabelValues(herr.reason).Inc()
		}
		if c.intake.rejectLog.Allow(time.Now()) {
			c.log.Warn("batch rejected (logged at most every 10s)", zap.Int("status", herr.code),
				zap.String("reason", herr.msg), zap.String("remote", r.RemoteAddr))
		}
		c.answer(w, herr.code, herr.msg)
		return
	}
	switch v, err := c.Submit(r.Context(), &Batch{req: req}); v {
	case Stored:
		c.answer(w, http.StatusOK, "")
	case Busy:
		c.answer(w, http.StatusServiceUnavailable, err.Error())
	default:
		c.answer(w, http.StatusServiceUnavailable, "batch not stored; retry")
	}
}

// authorized checks the bearer token. The scheme is matched without regard
// to case (RFC 9110); the token is compared through SHA-256 digests in
// constant time, so that neither how much of a guess was right nor how
// long the real token is shows in the response time.
func (c *Collector) authorized(r *http.Request) bool {
	if c.cfg.Token == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(c.cfg.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// minZstdWindow is the window every decoder accepts whatever the body
// limit: RFC 8878 asks decoders to support 8 MiB, and common encoders
// declare up to that for small inputs of unknown size.
const minZstdWindow = 8 << 20

// zstdPools holds a pool of decoders per body limit (*sync.Pool by int64).
// A decoder allocates the window a frame declares before it writes any
// output, so the window allowed is the body limit (at least
// minZstdWindow): a frame cannot make the collector hold history for more
// output than it would accept.
var zstdPools sync.Map

func zstdPool(limit int64) *sync.Pool {
	if p, ok := zstdPools.Load(limit); ok {
		return p.(*sync.Pool)
	}
	window := uint64(max(limit, minZstdWindow))
	p, _ := zstdPools.LoadOrStore(limit, &sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(min(window, zstd.MaxWindowSize)))
		if err != nil {
			return err
		}
		return d
	}})
	return p.(*sync.Pool)
}

// readBatch enforces the body limits and decodes and validates the batch
// and every event in it.
func (c *Collector) readBatch(w http.ResponseWriter, r *http.Request) (*request, *httpError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != ContentType {
		return nil, &httpError{code: http.StatusUnsupportedMediaType, msg: "Content-Type must be " + ContentType}
	}
	limit := c.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body exceeds %d bytes", limit)}
	}
	raw, err := readLimited(http.MaxBytesReader(w, r.Body, limit), limit, r.ContentLength)
	if err != nil {
		return nil, bodyError(err, limit)
	}
	bufs := [2][]byte{raw}
	fail := func(herr *httpError) (*request, *httpError) {
		putBody(bufs[0])
		putBody(bufs[1])
		return nil, herr
	}
	body := raw
	switch enc := strings.TrimSpace(strings.ToLower(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case batchhttp.EncodingZstd:
		body, err = unzstd(raw, limit)
		if err != nil {
			return fail(bodyError(err, limit))
		}
		bufs[1] = body
	default:
		return fail(&httpError{code: http.StatusUnsupportedMediaType, msg: "unsupported Content-Encoding " + strconv.Quote(enc)})
	}
	if herr := checkWhole(body, limit); herr != nil {
		return fail(herr)
	}
	req, err := decodeBatchBody(body)
	if err != nil {
		return fail(&httpError{code: http.StatusBadRequest, reason: invalidReason(err), msg: "malformed batch: " + oneLine(err.Error())})
	}
	req.bufs = bufs
	return req, nil
}

// checkWhole answers 400 unless the body is exactly one stream-framed
// message: a body cut short (a dropped connection, a truncating proxy) or
// with bytes after the message is not what any forwarder sends.
func checkWhole(body []byte, limit int64) *httpError {
	n, err := wire.FrameSize(body, int(limit))
	switch {
	case errors.Is(err, wire.ErrShortFrame) || (err == nil && n > len(body)):
		return &httpError{code: http.StatusBadRequest, reason: "truncated",
			msg: fmt.Sprintf("malformed batch: body of %d bytes ends inside its message", len(body))}
	case err != nil:
		return &httpError{code: http.StatusBadRequest, reason: invalidReason(err), msg: "malformed batch: " + oneLine(err.Error())}
	case n < len(body):
		return &httpError{code: http.StatusBadRequest, reason: "trailing_bytes",
			msg: fmt.Sprintf("malformed batch: %d bytes after the message", len(body)-n)}
	}
	return nil
}

var errTooLarge = errors.New("too large")

func bodyError(err error, limit int64) *httpError {
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
		return &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body exceeds %d bytes (decompressed too)", limit)}
	}
	return &httpError{code: http.StatusBadRequest, reason: "body", msg: "cannot read body: " + oneLine(err.Error())}
}

// readLimited reads all of r into a buffer from bodyPool; more than limit
// bytes is errTooLarge. A size hint (Content-Length, or a guess) sizes the
// buffer once: growing it by doubling was a quarter of the collector's CPU
// in a profile.
func readLimited(r io.Reader, limit, hint int64) ([]byte, error) {
	r = io.LimitReader(r, limit+1)
	buf := getBody(int(min(max(hint, 0), limit)) + bytes.MinRead)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case int64(len(buf)) > limit:
			putBody(buf)
			return nil, errTooLarge
		case err == io.EOF:
			return buf, nil
		case err != nil:
			putBody(buf)
			return nil, err
		}
	}
}

// bodyPool recycles request bodies and their decompressed form once the
// batch has its verdict: a fresh buffer of a MiB or more per batch cost its
// zeroing, and the garbage collector its scanning, on every request.
var bodyPool sync.Pool // of *[]byte

// maxPooledBody keeps a burst of huge bodies from staying pinned in memory.
const maxPooledBody = 16 << 20

func getBody(n int) []byte {
	if p, ok := bodyPool.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return (*p)[:0]
		}
		bodyPool.Put(p)
	}
	return make([]byte, 0, n)
}

func putBody(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBody {
		bodyPool.Put(&b)
	}
}

// unzstd decompresses at most limit bytes: a small body that expands
// without end (a zstd bomb) is refused once it passes the limit.
func unzstd(b []byte, limit int64) ([]byte, error) {
	pool := zstdPool(limit)
	v := pool.Get()
	d, ok := v.(*zstd.Decoder)
	if !ok {
		return nil, fmt.Errorf("zstd decoder: %v", v)
	}
	defer pool.Put(d)
	if err := d.Reset(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	out, err := readLimited(d, limit, 4*int64(len(b))) // zstd on events is about 3.6x
	if err != nil && !errors.Is(err, errTooLarge) {
		err = fmt.Errorf("zstd: %w", err)
	}
	return out, err
}

// decodeBatchBody decodes a batch and every event in it; any invalid event
// rejects the whole batch, which the forwarder then quarantines. Events are
// bounded by wire.MaxMessageSize, the limit the forwarder is held to.
func decodeBatchBody(body []byte) (*request, error) {
	b, err := wire.DecodeBatch(body, wire.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	req := &request{batch: b, verdict: make(chan Verdict, 1)}
	req.events = make([]eventID, 0, b.EventCount)
	req.frames = make([][]byte, 0, b.EventCount)
	var ev wire.Event
	err = wire.Frames(b.Events, wire.MaxMessageSize, func(frame []byte) error {
		if err := decodeEvent(frame, &ev); err != nil {
			return fmt.Errorf("event %d: %w", len(req.events), err)
		}
		req.events = append(req.events, eventID{ev.EmitterID, ev.Seq, ev.Kind})
		req.frames = append(req.frames, frame)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// invalidReason labels a rejected batch: wire.Reason, with "frame_" before
// a framing error inside the batch, which would otherwise share its name
// with the body-level reasons (a truncated body is not a truncated frame).
func invalidReason(err error) string {
	if wire.IsFrameError(err) {
		return "frame_" + wire.Reason(err)
	}
	return wire.Reason(err)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
