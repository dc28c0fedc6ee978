package forwarder

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

// expectClosed waits for the forwarder to hang up on c.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 1024)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // acks are fine; we wait for the end
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %s", within)
		}
		return
	}
}

func rawConn(t *testing.T, socket string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// frame builds a single-segment frame around words.
func frame(words ...uint64) []byte {
	b := make([]byte, 8+8*len(words))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(words)))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8+8*i:], w)
	}
	return b
}

// structPtr encodes a struct pointer with a word offset and section sizes.
func structPtr(offset int32, data, ptrs uint16) uint64 {
	return uint64(uint32(offset)<<2) | uint64(data)<<32 | uint64(ptrs)<<48
}

func TestHostilePeers(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.FrameTimeout = 300 * time.Millisecond
	r := startForwarder(t, cfg)
	good := dialEmitter(t, cfg.Socket, 9)
	keepsFlowing := func(t *testing.T) {
		t.Helper()
		want := good.seq + 10
		good.send(t, 10)
		waitFor(t, 5*time.Second, "the well-behaved emitter's acks", func() bool { return good.acked.Load() == want })
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	valid := good.event(t)
	good.seq-- // not sent by the good emitter
	tests := []struct {
		name   string
		reason string // malformed reason counted, "" for a timeout
		data   []byte
		slow   bool
	}{
		{name: "random bytes", data: random},
		{name: "header claims 4 GiB", reason: "size", data: []byte{0, 0, 0, 0, 0, 0, 0, 0x20}},
		{name: "segment count over the limit", reason: "segments", data: []byte{0xe7, 0x03, 0, 0, 1, 0, 0, 0}},
		{name: "empty message", reason: "empty", data: []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "pointer out of bounds", data: frame(structPtr(1000, 5, 8), 0)},
		{name: "self-referencing pointer", data: frame(structPtr(0, 0, 8), structPtr(-1, 0, 1))},
		{name: "emitter id of 3 bytes", reason: "emitter_id", data: append(frame(structPtr(0, 5, 8),
			0, 0, 0, 0, 0, 0, (3<<3|2)<<32|(uint64(uint32(6))<<2)|1, 0, 0, 0, 0, 0, 0, 0xffffff), valid...)},
		{name: "one byte a second", data: valid, slow: true},
		// Values the schema rules out (wire/values.go) and a label list
		// past wire.MaxLabels: the collector would have to guess.
		{name: "instance state that does not add up", reason: "value", data: wire.AppendEvent(nil, &wire.Event{
			Kind: wire.KindInstanceState, InstanceState: wire.InstanceState{IntervalStartNs: 1, IntervalEndNs: 15e9 + 1, ActiveNs: 15e9, IdleNs: 1}})},
		{name: "prediction status 9", reason: "value", data: wire.AppendEvent(nil, &wire.Event{
			Kind: wire.KindPrediction, Prediction: wire.Prediction{Status: 9}})},
		{name: "257 labels", reason: "list", data: wire.AppendEvent(nil, &wire.Event{
			Kind: wire.KindPrediction, Prediction: wire.Prediction{Attributes: make([]wire.Label, wire.MaxLabels+1)}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.metric(t, "readout_forwarder_malformed_frames_total")
			c := rawConn(t, cfg.Socket)
			if tt.slow {
				// The frame timeout (300 ms here) cuts the peer off long
				// before its frame completes.
				start := time.Now()
				var err error
				for i := 0; i < len(tt.data) && err == nil; i++ {
					_, err = c.Write(tt.data[i : i+1])
					time.Sleep(100 * time.Millisecond)
				}
				expectClosed(t, c, 2*time.Second)
				if time.Since(start) > time.Duration(len(tt.data))*100*time.Millisecond {
					t.Errorf("slow peer was not cut off before its frame completed")
				}
				waitFor(t, 2*time.Second, "frame_timeout count", func() bool {
					return r.metricLabel(t, "readout_forwarder_connections_closed_total", "reason", "frame_timeout") >= 1
				})
			} else {
				c.Write(tt.data)
				expectClosed(t, c, 3*time.Second)
				if tt.reason != "" {
					waitFor(t, 2*time.Second, "malformed count", func() bool {
						return r.metricLabel(t, "readout_forwarder_malformed_frames_total", "reason", tt.reason) >= 1
					})
				} else if tt.name != "random bytes" {
					waitFor(t, 2*time.Second, "malformed count", func() bool {
						return r.metric(t, "readout_forwarder_malformed_frames_total") > before
					})
				}
			}
			keepsFlowing(t)
		})
	}
	r.stop(t)
	tc.check()
	got, _ := tc.snapshot()
	if len(got) != int(good.seq) {
		t.Errorf("collector got %d events; want the good emitter's %d", len(got), good.seq)
	}
}

func TestThousandHalfFrames(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.MaxConns = 1100
	r := startForwarder(t, cfg)
	good := dialEmitter(t, cfg.Socket, 9)
	half := good.event(t)
	good.seq--
	half = half[:len(half)/2]
	const n = 1000
	conns := make([]*net.UnixConn, 0, n)
	for range n {
		c := rawConn(t, cfg.Socket)
		if _, err := c.Write(half); err != nil {
			t.Fatalf("write half frame: %v", err)
		}
		conns = append(conns, c)
	}
	waitFor(t, 10*time.Second, "all connections open", func() bool {
		return r.metric(t, "readout_forwarder_connections") == n+1
	})
	good.send(t, 50)
	waitFor(t, 5*time.Second, "the well-behaved emitter's acks", func() bool { return good.acked.Load() == 50 })
	// Memory stays bounded by the enforced limits: each connection holds
	// one small read buffer, never the frame's full claimed size (the busy
	// well-behaved emitter may have grown to the cap).
	limit := float64(n*initialReadBuffer + maxReadBuffer(cfg.MaxMessage))
	if got := r.metric(t, "readout_forwarder_read_buffer_bytes"); got > limit {
		t.Errorf("read buffers hold %v bytes; want at most %v", got, limit)
	}
	if limit := maxReadBuffer(cfg.MaxMessage); limit > 128<<10 {
		t.Errorf("per-connection buffer cap %d; want at most 128 KiB", limit)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 10*time.Second, "connections closed", func() bool { return r.metric(t, "readout_forwarder_connections") == 1 })
}

func TestMaxConns(t *testing.T) {
	tc := newTestCollector(t)
	cfg := testConfig(t, tc.URL())
	cfg.MaxConns = 2
	r := startForwarder(t, cfg)
	a := dialEmitter(t, cfg.Socket, 1)
	b := dialEmitter(t, cfg.Socket, 2)
	a.send(t, 1)
	b.send(t, 1)
	waitFor(t, 5*time.Second, "acks", func() bool { return a.acked.Load() == 1 && b.acked.Load() == 1 })
	c := rawConn(t, cfg.Socket)
	expectClosed(t, c, 2*time.Second)
	if n := r.metricLabel(t, "readout_forwarder_connections_rejected_total", "reason", "max_conns"); n != 1 {
		t.Errorf("rejected = %v; want 1", n)
	}
	a.send(t, 1)
	waitFor(t, 5*time.Second, "acks after rejection", func() bool { return a.acked.Load() == 2 })
}
