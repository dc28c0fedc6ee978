package emitter_test

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/wire"
)

// ExampleNew shows an inference server wiring the emitter: one Emitter per
// process, Emit once per request, Close on shutdown.
func ExampleNew() {
	logger, _ := zap.NewProduction()
	em, err := emitter.New(emitter.Options{
		SocketPath: "/run/readout/forwarder.sock", // the default
		Logger:     logger,
		// Registerer: prometheus.DefaultRegisterer, to export readout_emitter_*.
	})
	if err != nil {
		logger.Fatal("readout emitter", zap.Error(err)) // only bad options fail
	}

	// In the request handler, after the response is sent:
	start := time.Now()
	ev := wire.Inference{
		AccountID:          4242,
		ModelID:            "@cf/meta/llama-3.1-8b-instruct",
		RequestTimeUs:      uint64(time.Since(start).Microseconds()),
		TimeToFirstTokenUs: 180_000,
		Neurons:            12.5,
		HTTPStatus:         200,
		RequestSource:      wire.SourceWorker,
		Streamed:           true,
		Backend:            "vllm",
		InputTokens:        512,
		OutputTokens:       128,
	}
	em.EmitAt(start, &ev) // never blocks; a drop is counted, not returned as an error

	// On shutdown: flush, and tell the forwarder the final seq and drop count.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		logger.Warn("readout emitter close", zap.Error(err), zap.Any("stats", em.Stats()))
	}
}
