package forwarding

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/wire"
)

// BatchRelay stands between the readout forwarder and its receiver. It reads
// each HTTP/1.1 batch request, counts the events in it, passes it to the
// upstream collector (or, with no upstream, answers 204 itself: a receiver
// that does nothing, like the line sink rsyslog ships to), and passes the
// answer back. It knows the moment the last event is acknowledged without
// scraping the daemons' metrics, whose cost would land on the measured
// process, and counts the bytes the forwarder really puts on the wire.
type BatchRelay struct {
	ln       net.Listener
	upstream string
	want     int64
	dec      *zstd.Decoder

	Up, Down atomic.Int64 // bytes from and to the forwarder, headers included
	events   atomic.Int64 // events in distinct acknowledged batches
	batches  atomic.Int64
	badBody  atomic.Int64 // requests whose body did not decode as a Batch

	mu      sync.Mutex
	seen    map[batchKey]bool
	conns   []net.Conn
	closing bool
	done    chan struct{}
	at      time.Time
	wg      sync.WaitGroup
}

type batchKey struct {
	forwarder [16]byte
	seq       uint64
}

// NewBatchRelay listens on a free loopback port. upstream is the collector's
// host:port, or empty to acknowledge every batch itself. Done fires once
// want events have been acknowledged.
func NewBatchRelay(upstream string, want int64) (*BatchRelay, error) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dec.Close()
		return nil, err
	}
	r := &BatchRelay{ln: ln, upstream: upstream, want: want, dec: dec,
		seen: map[batchKey]bool{}, done: make(chan struct{})}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the host:port the forwarder should ship to.
func (r *BatchRelay) Addr() string { return r.ln.Addr().String() }

// Events is how many events the receiver has acknowledged, each batch
// counted once however often it was sent.
func (r *BatchRelay) Events() int64 { return r.events.Load() }

// Batches is how many distinct batches were acknowledged.
func (r *BatchRelay) Batches() int64 { return r.batches.Load() }

// Undecodable is how many requests did not hold a valid Batch.
func (r *BatchRelay) Undecodable() int64 { return r.badBody.Load() }

// Done is closed once want events are acknowledged.
func (r *BatchRelay) Done() <-chan struct{} { return r.done }

// ReachedAt is when the acknowledgement of the last wanted event was passed
// back to the forwarder; zero before Done.
func (r *BatchRelay) ReachedAt() time.Time {
	select {
	case <-r.done:
		return r.at
	default:
		return time.Time{}
	}
}

// Close stops the relay and every connection, and waits for them.
func (r *BatchRelay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closing = true
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.dec.Close()
	return err
}

// track registers c to be closed by Close; after Close it closes c at once
// and reports false.
func (r *BatchRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		c.Close()
		return false
	}
	r.conns = append(r.conns, c)
	return true
}

func (r *BatchRelay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !r.track(c) {
			return
		}
		r.wg.Add(1)
		go r.serve(c)
	}
}

// serve relays one forwarder connection, request by request (the Go HTTP
// client does not pipeline, so each request waits for its answer).
func (r *BatchRelay) serve(c net.Conn) {
	defer r.wg.Done()
	defer c.Close()
	br := bufio.NewReaderSize(countingReader{c, &r.Up}, 256<<10)
	bw := bufio.NewWriter(countingWriter{c, &r.Down})
	var up net.Conn
	var upr *bufio.Reader
	defer func() {
		if up != nil {
			up.Close()
		}
	}()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return
		}
		key, n, derr := r.count(body, req.Header.Get("Content-Encoding"))
		var resp *http.Response
		if r.upstream == "" {
			resp = &http.Response{StatusCode: http.StatusNoContent, ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{}, Request: req}
		} else {
			if up == nil {
				if up, err = net.Dial("tcp", r.upstream); err != nil {
					return
				}
				if !r.track(up) {
					return
				}
				upr = bufio.NewReaderSize(up, 64<<10)
			}
			if resp, err = forward(up, upr, req, body); err != nil {
				return
			}
		}
		// Counted as the answer goes back, a few microseconds before the
		// forwarder reads it, so that whoever sees the response sees the count.
		if resp.StatusCode/100 == 2 && derr == nil {
			r.acked(key, n)
		}
		if err := resp.Write(bw); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// forward sends req with body upstream and reads the whole answer.
func forward(up net.Conn, upr *bufio.Reader, req *http.Request, body []byte) (*http.Response, error) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.TransferEncoding = nil
	if err := req.Write(up); err != nil {
		return nil, fmt.Errorf("relay request: %w", err)
	}
	resp, err := http.ReadResponse(upr, req)
	if err != nil {
		return nil, fmt.Errorf("relay response: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("relay response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.TransferEncoding = nil
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return resp, nil
}

// count decodes a batch body far enough to know its identity and size.
func (r *BatchRelay) count(body []byte, encoding string) (batchKey, int64, error) {
	if encoding == "zstd" {
		var err error
		if body, err = r.dec.DecodeAll(body, nil); err != nil {
			r.badBody.Add(1)
			return batchKey{}, 0, err
		}
	}
	b, err := wire.DecodeBatch(body, 1<<20)
	if err != nil {
		r.badBody.Add(1)
		return batchKey{}, 0, err
	}
	return batchKey{b.ForwarderID, b.BatchSeq}, int64(b.EventCount), nil
}

func (r *BatchRelay) acked(k batchKey, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[k] {
		return // a re-sent batch: its events were counted already
	}
	r.seen[k] = true
	r.batches.Add(1)
	if r.events.Add(n) >= r.want && r.at.IsZero() {
		r.at = time.Now()
		close(r.done)
	}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
