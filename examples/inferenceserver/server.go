package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/servermetrics"
	"github.com/readout-dev/readout/wire"
)

// server simulates one model behind a bounded number of inference slots and
// a local queue, and reports every request to readout: one event each, and
// counters and permits on its own /metrics (servermetrics).
type server struct {
	model    string
	backend  string
	coloID   uint32
	slots    chan struct{} // a token per concurrent inference
	maxQueue int32
	queued   atomic.Int32
	work     time.Duration // mean simulated inference time
	em       *emitter.Emitter

	// Set by useMetrics: the handles the request path moves.
	metrics             *servermetrics.Metrics
	permits             *servermetrics.Model
	inferences, healthy *servermetrics.Counter
}

// useMetrics reports the server on m: its slots are the model's permits,
// its queued counter the queue size. It forwards to no other endpoint, so
// the one endpoint it reports is its own address (addr), healthy; a router
// would report each endpoint it forwards to, as its probes find them.
func (s *server) useMetrics(m *servermetrics.Metrics, addr string) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("port %q: %w", portText, err)
	}
	s.metrics, s.permits = m, m.Model(s.model)
	s.permits.SetPermits(cap(s.slots))
	s.inferences, s.healthy = m.Inferences(s.backend), m.InferencesByHealth("healthy")
	m.SetExternalEndpoint(host, port, "healthy")
	return nil
}

// leaveQueue takes a request out of the local queue.
func (s *server) leaveQueue() {
	s.queued.Add(-1)
	s.permits.Dequeue()
}

// ServeHTTP handles POST /infer?stream=true|false with an X-Account-Id header.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	account, _ := strconv.ParseUint(r.Header.Get("X-Account-Id"), 10, 64)
	ev := wire.Inference{
		AccountID: account, ModelID: s.model, Backend: s.backend, ColoID: s.coloID, SourceColoID: s.coloID,
		RequestSource: wire.SourceRESTAPI, Streamed: r.URL.Query().Get("stream") == "true",
		LocalQueueSize: uint32(s.queued.Load()), InputTokens: uint32(r.ContentLength / 4),
	}
	// One event per request, whatever happens below; Emit never blocks.
	// The counters move at the same point: atomic adds only.
	defer func() {
		ev.RequestTimeUs = uint64(time.Since(start).Microseconds())
		s.em.EmitAt(start, &ev)
		s.metrics.Request(int(ev.HTTPStatus))
		if ev.ErrorCode != 0 {
			s.metrics.Errors(ev.ErrorCode, int(ev.HTTPStatus)).Inc()
		}
	}()

	if s.queued.Add(1) > s.maxQueue {
		s.queued.Add(-1)
		s.metrics.Turnstile(servermetrics.Rejected)
		ev.ErrorCode, ev.HTTPStatus = 3040, http.StatusTooManyRequests
		http.Error(w, "queue full", http.StatusTooManyRequests)
		return
	}
	s.permits.Enqueue()
	select {
	case s.slots <- struct{}{}: // a slot free at once
		s.metrics.Turnstile(servermetrics.Leased)
	default:
		s.metrics.Turnstile(servermetrics.Queued)
		select {
		case s.slots <- struct{}{}:
		case <-r.Context().Done():
			s.leaveQueue()
			ev.ErrorCode, ev.HTTPStatus = 3041, 499 // client went away while queued
			return
		}
	}
	s.leaveQueue()
	s.permits.Acquire()
	defer func() { s.permits.Release(); <-s.slots }()
	ev.QueuingTimeUs = uint64(time.Since(start).Microseconds())

	inferStart := time.Now()
	tokens := 16 + rand.IntN(64)
	flusher, _ := w.(http.Flusher)
	for i := 0; i < tokens; i++ {
		time.Sleep(s.work / time.Duration(tokens))
		if ev.Streamed {
			fmt.Fprintf(w, "data: token %d\n\n", i)
			if flusher != nil {
				flusher.Flush()
			}
			if i == 0 {
				ev.TimeToFirstTokenUs = uint64(time.Since(start).Microseconds())
			}
		}
	}
	if !ev.Streamed {
		fmt.Fprintf(w, "%d tokens\n", tokens)
	}
	ev.InferenceTimeUs = uint64(time.Since(inferStart).Microseconds())
	ev.OutputTokens, ev.HTTPStatus = uint32(tokens), http.StatusOK
	s.inferences.Inc()
	s.healthy.Inc()
	ev.Neurons = float64(ev.InputTokens)*0.01 + float64(tokens)*0.1
}
