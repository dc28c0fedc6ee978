package daemon

import (
	"net/http"
	"net/http/pprof"
)

// WithPprof serves Go's profiler under /debug/pprof/ beside ops (metrics,
// health). It is off unless asked for (--pprof): profiles expose internals
// and cost CPU while they run, but on a production node they are how a
// slow stage gets explained.
func WithPprof(ops http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", ops)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
