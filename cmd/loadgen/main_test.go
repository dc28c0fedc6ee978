package main

import (
	"bytes"
	"errors"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/readout-dev/readout/internal/truth"
	"github.com/readout-dev/readout/wire"
)

// sink is a minimal acknowledging forwarder on a real Unix socket that sums
// what it receives per model, counting each (emitter, seq) once.
type sink struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   map[[24]byte]bool
	models map[string]*truth.Totals
	closed int
}

func newSink(t *testing.T, path string) *sink {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln, seen: map[[24]byte]bool{}, models: map[string]*truth.Totals{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go s.serve(t, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) serve(t *testing.T, c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	buf := make([]byte, 1<<20)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		start := 0
		var last uint64
		closing := false
		for {
			size, err := wire.FrameSize(buf[start:n], wire.DefaultMaxMessageSize)
			if errors.Is(err, wire.ErrShortFrame) || (err == nil && size > n-start) {
				break
			}
			if err != nil {
				t.Errorf("sink: %v", err)
				return
			}
			ev, err := wire.DecodeEventCapnp(buf[start : start+size])
			if err != nil {
				t.Errorf("sink: %v", err)
				return
			}
			start += size
			last = ev.Seq
			s.mu.Lock()
			var key [24]byte
			copy(key[:], ev.EmitterID[:])
			for i := 0; i < 8; i++ {
				key[16+i] = byte(ev.Seq >> (8 * i))
			}
			switch {
			case ev.Kind == wire.KindClosed:
				closing = true
				s.closed++
			case !s.seen[key]:
				s.seen[key] = true
				m := s.models[ev.Inference.ModelID]
				if m == nil {
					m = &truth.Totals{}
					s.models[ev.Inference.ModelID] = m
				}
				in := &ev.Inference
				(&contribution{failed: in.ErrorCode != 0, streamed: in.Streamed, neurons: in.Neurons, in: in.InputTokens, out: in.OutputTokens}).add(m)
			}
			s.mu.Unlock()
		}
		n = copy(buf, buf[start:n])
		if last > 0 || closing {
			b, _ := wire.EncodeAck(wire.Ack{DurableSeq: last, Closed: closing})
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}
}

func readTruth(t *testing.T, path string) *truth.File {
	t.Helper()
	tr, err := truth.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func closeEnough(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestTruthMatchesWhatArrived(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"wait", nil},
		{"no wait", []string{"--wait=false", "--buffer", "8"}},
		{"paced", []string{"--rate", "20000", "--emitters", "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "fwd.sock")
			s := newSink(t, sock)
			truthPath := filepath.Join(dir, "truth.json")
			var stderr bytes.Buffer
			args := append([]string{"--socket", sock, "--events", "3000", "--seed", "7", "--truth", truthPath, "--quiet"}, tc.args...)
			if code := run(args, &stderr); code != 0 {
				t.Fatalf("unexpected exit %d: %s", code, stderr.String())
			}
			tr := readTruth(t, truthPath)
			em := tr.Emitter
			if em.Sent+em.Dropped+em.Queued != em.Emitted || em.Emitted != 3000 || em.Queued != 0 {
				t.Fatalf("unexpected emitter stats %+v", em)
			}
			if tr.Total.Requests != em.Sent {
				t.Fatalf("truth counts %d requests; emitters sent %d", tr.Total.Requests, em.Sent)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closed != 4 && !(len(tc.args) > 0 && tc.args[len(tc.args)-1] == "2" && s.closed == 2) {
				t.Fatalf("unexpected closing messages: %d", s.closed)
			}
			if len(s.models) != len(tr.ByModel) {
				t.Fatalf("unexpected models; got %v; want %v", s.models, tr.ByModel)
			}
			for id, want := range tr.ByModel {
				got := s.models[id]
				if got == nil || got.Requests != want.Requests || got.Errors != want.Errors ||
					got.InputTokens != want.InputTokens || got.OutputTokens != want.OutputTokens ||
					got.Streamed != want.Streamed || !closeEnough(got.Neurons, want.Neurons) {
					t.Fatalf("model %s: got %+v; want %+v", id, got, want)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	var runs []*truth.File
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		sock := filepath.Join(dir, "fwd.sock")
		newSink(t, sock)
		truthPath := filepath.Join(dir, "truth.json")
		var stderr bytes.Buffer
		if code := run([]string{"--socket", sock, "--events", "2000", "--seed", "3", "--truth", truthPath, "--quiet"}, &stderr); code != 0 {
			t.Fatalf("unexpected exit %d: %s", code, stderr.String())
		}
		runs = append(runs, readTruth(t, truthPath))
	}
	a, b := runs[0], runs[1]
	if a.Total.Requests != 2000 || a.Total != b.Total || len(a.ByModel) < 4 {
		t.Fatalf("same seed, different truth:\n%+v\n%+v", a.Total, b.Total)
	}
	for id := range a.ByModel {
		if a.ByModel[id] != b.ByModel[id] {
			t.Fatalf("model %s differs: %+v vs %+v", id, a.ByModel[id], b.ByModel[id])
		}
	}
	if a.Total.Errors == 0 || a.Total.Errors > 100 {
		t.Fatalf("unexpected error count %d of 2000 (want about 1.5%%)", a.Total.Errors)
	}
}

func TestBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no socket", []string{"--events", "10"}, "--socket"},
		{"no events", []string{"--socket", "/tmp/x.sock"}, "--events"},
		{"negative rate", []string{"--socket", "/tmp/x.sock", "--events", "10", "--rate", "-1"}, "--rate"},
		{"unknown flag", []string{"--bogus"}, "bogus"},
		{"bad number", []string{"--events", "many"}, "events"},
		{"stray argument", []string{"--socket", "/tmp/x.sock", "--events", "10", "extra"}, "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tc.args, &stderr); code != 2 {
				t.Fatalf("unexpected exit %d; want 2", code)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("unexpected message %q; want one line mentioning %q", out, tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run([]string{"--help"}, &stderr); code != 0 || !strings.Contains(stderr.String(), "--truth") {
		t.Fatalf("--help: exit %d, %q", code, stderr.String())
	}
}
