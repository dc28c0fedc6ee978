package forwarding

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSinkCountsLinesAcrossConnections(t *testing.T) {
	s, err := NewSink(30)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// Lines split across writes must still count once each.
		if _, err := io.WriteString(c, strings.Repeat("{\"a\":1}\n", 9)+"{\"a\""); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, ":2}\n"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("sink never reached 30 lines; has %d", s.Lines())
	}
	if s.ReachedAt().IsZero() {
		t.Fatal("ReachedAt is zero after Done")
	}
	if got := string(s.First()); !strings.HasPrefix(got, "{\"a\":1}\n") {
		t.Fatalf("unexpected first bytes %q", got)
	}
}

func TestSenderWritesStreamsAndDrainsReplies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	streams := [][]byte{[]byte(strings.Repeat("a", 1<<20)), []byte(strings.Repeat("b", 1<<20))}
	got := make(chan int64, len(streams))
	go func() {
		for range streams {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Answer a lot while reading, as the forwarder's acks do: a
				// sender that did not read would deadlock here.
				go func() { _, _ = c.Write(make([]byte, 4<<20)) }()
				n, _ := io.Copy(io.Discard, c)
				got <- n
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, path, len(streams), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, streams); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range streams {
		select {
		case n := <-got:
			if n != 1<<20 {
				t.Fatalf("unexpected bytes at the peer; got %d; want %d", n, 1<<20)
			}
		case <-ctx.Done():
			t.Fatal("the peer never saw the end of a stream")
		}
	}
	if err := s.Send(ctx, streams[:1]); err == nil {
		t.Fatal("Send accepted fewer streams than connections")
	}
}
