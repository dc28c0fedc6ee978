package servermetrics_test

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/readout-dev/readout/servermetrics"
)

// ExampleNew shows a server wiring its metrics: its own registry served on
// /metrics, the handles resolved once, the sampler in a goroutine, and the
// request path moving counters.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	m, err := servermetrics.New(reg, servermetrics.Options{})
	if err != nil {
		panic(err) // only a registry that has these metrics already refuses them
	}
	mux := http.NewServeMux() // the server's, beside its inference routes
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx) // a sample of every model every 500 ms

	// Once, at start: the handles the request path uses.
	llama := m.Model("@cf/meta/llama-3.1-8b-instruct")
	llama.SetPermits(4)
	vllm, healthy := m.Inferences("vllm"), m.InferencesByHealth("healthy")

	// A request that found a permit free: atomic adds, nothing else.
	m.Turnstile(servermetrics.Leased)
	llama.Acquire()
	vllm.Inc()
	healthy.Inc()
	llama.Release()
	m.Request(http.StatusOK)

	// A request turned away because the queue was full.
	m.Turnstile(servermetrics.Rejected)
	m.Errors(3040, http.StatusTooManyRequests).Inc()
	m.Request(http.StatusTooManyRequests)

	// On shutdown.
	cancel()
	m.Close()
}
