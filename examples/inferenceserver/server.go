package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/wire"
)

// server simulates one model behind a bounded number of inference slots and
// a local queue, and reports every request to readout: one event each.
type server struct {
	model    string
	backend  string
	coloID   uint32
	slots    chan struct{} // a token per concurrent inference
	maxQueue int32
	queued   atomic.Int32
	work     time.Duration // mean simulated inference time
	em       *emitter.Emitter
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
	defer func() {
		ev.RequestTimeUs = uint64(time.Since(start).Microseconds())
		s.em.EmitAt(start, &ev)
	}()

	if s.queued.Add(1) > s.maxQueue {
		s.queued.Add(-1)
		ev.ErrorCode, ev.HTTPStatus = 3040, http.StatusTooManyRequests
		http.Error(w, "queue full", http.StatusTooManyRequests)
		return
	}
	select {
	case s.slots <- struct{}{}:
		s.queued.Add(-1)
	case <-r.Context().Done():
		s.queued.Add(-1)
		ev.ErrorCode, ev.HTTPStatus = 3041, 499 // client went away while queued
		return
	}
	defer func() { <-s.slots }()
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
	ev.Neurons = float64(ev.InputTokens)*0.01 + float64(tokens)*0.1
}
