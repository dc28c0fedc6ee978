// Command inferenceserver is a small simulated inference server that shows
// how a real one links readout's emitter: one Emitter per process, one event
// per request, Close on shutdown. It serves its capacity metrics
// (servermetrics, and the emitter's own) on /metrics beside /infer. See
// server.go for the handler.
//
//	go run ./examples/inferenceserver --socket /tmp/readout/forwarder.sock --listen 127.0.0.1:8080
//	curl -X POST -H 'X-Account-Id: 42' 'http://127.0.0.1:8080/infer?stream=true'
//	curl http://127.0.0.1:8080/metrics
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/servermetrics"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address to serve /infer and /metrics on")
	socket := flag.String("socket", emitter.DefaultSocketPath, "the readout forwarder's Unix socket")
	model := flag.String("model", "@cf/meta/llama-3.1-8b-instruct", "model id to report")
	slots := flag.Int("slots", 4, "concurrent inferences")
	queue := flag.Int("queue", 32, "requests that may wait for a slot before 429")
	work := flag.Duration("work", 50*time.Millisecond, "mean simulated inference time")
	flag.Parse()
	if *slots <= 0 || *queue < 0 || *work <= 0 {
		fmt.Fprintln(os.Stderr, "inferenceserver: --slots and --work must be positive, --queue not negative")
		os.Exit(2)
	}

	logger, _ := zap.NewProduction()
	reg := prometheus.NewRegistry() // the server's own, not the global one
	em, err := emitter.New(emitter.Options{SocketPath: *socket, Logger: logger, Registerer: reg})
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferenceserver:", err)
		os.Exit(2)
	}
	metrics, err := servermetrics.New(reg, servermetrics.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferenceserver:", err)
		os.Exit(2)
	}
	s := &server{model: *model, backend: "vllm", coloID: 1, slots: make(chan struct{}, *slots),
		maxQueue: int32(*queue), work: *work, em: em}
	if err := s.useMetrics(metrics, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "inferenceserver: --listen:", err)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *listen, Handler: routes(s, reg), ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go metrics.Run(ctx) // samples the permits every 500 ms, off the request path
	defer metrics.Close()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("serving", zap.String("listen", *listen), zap.String("socket", *socket))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("serve", zap.Error(err))
	}
	// Flush what is queued and send the final message (seq and drop count).
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Close(closeCtx); err != nil {
		logger.Warn("emitter close", zap.Error(err))
	}
	logger.Info("stopped", zap.Any("emitter", em.Stats()))
}

// routes serves /infer and, from reg, /metrics.
func routes(s *server, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /infer", s)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
