package endpoints_test

import (
	"context"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/endpoints"
)

// ExampleNew shows a server wiring the tracker beside its emitter: one
// Tracker per process, Refresh with the whole routing map at every refresh
// of it, Close on shutdown before the emitter's Close.
func ExampleNew() {
	em, err := emitter.New(emitter.Options{})
	if err != nil {
		panic(err) // only bad options fail
	}
	tr, err := endpoints.New(endpoints.Options{
		Sink:     em,
		Hostname: "gpu-7.colo-a", // the host observing; os.Hostname() by default
		// Known: the Presences a previous process persisted, to carry them on.
	})
	if err != nil {
		panic(err)
	}

	// At every refresh of the routing map: model ID -> endpoint addresses.
	tr.Refresh(map[string][]string{
		"@cf/meta/llama-2-7b": {"10.0.0.1:8000", "10.0.0.2:8000"},
		"@cf/openai/whisper":  {"10.0.0.3:9000"},
	})
	// ... and, to survive a crash without leaving presences open, persist
	// tr.Presences() after each Refresh.

	// On shutdown: end every presence, then close the emitter.
	tr.Close()
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = em.Close(ctx)
}
