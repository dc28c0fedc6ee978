package ship

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestBodyDeliveredWhole checks that the collector receives request bodies
// whole, with their length, on a fresh and on a reused connection.
func TestBodyDeliveredWhole(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(b)
		if r.ContentLength != int64(len(b)) {
			t.Errorf("Content-Length %d for a %d-byte body", r.ContentLength, len(b))
		}
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		body := bytes.Repeat([]byte{byte(i + 1), 2, 3}, 300_000)
		if res := c.Send(context.Background(), body); res.Outcome != Delivered {
			t.Fatalf("send %d: %+v", i, res)
		}
		if b, _ := got.Load().([]byte); !bytes.Equal(b, body) {
			t.Fatalf("send %d: collector got %d bytes, want %d", i, len(b), len(body))
		}
	}
}

func TestBodyConnReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	recv := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recv <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		recv <- b
	}()
	conn, err := dialBodyConn(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bc, ok := conn.(*bodyConn)
	if !ok {
		t.Fatalf("dialBodyConn returned %T", conn)
	}
	data := bytes.Repeat([]byte("abcdefgh"), 100_000)
	// The body as net/http hands it over, then something else, which
	// takes the ordinary path.
	lr := &io.LimitedReader{R: newBody(data), N: int64(len(data))}
	n, err := bc.ReadFrom(lr)
	if err != nil || n != int64(len(data)) || lr.N != 0 {
		t.Fatalf("ReadFrom: n %d err %v left %d", n, err, lr.N)
	}
	if _, err := bc.ReadFrom(io.LimitReader(bytes.NewReader([]byte("tail")), 3)); err != nil {
		t.Fatal(err)
	}
	// A body longer than its limit takes the ordinary path too, which
	// keeps to the limit.
	if n, err := bc.ReadFrom(&io.LimitedReader{R: newBody([]byte("limited")), N: 3}); err != nil || n != 3 {
		t.Fatalf("limited body: n %d err %v", n, err)
	}
	bc.Close()
	if b := <-recv; !bytes.Equal(b, append(data, "tailim"...)) {
		t.Fatalf("peer got %d bytes, want %d", len(b), len(data)+6)
	}
}
