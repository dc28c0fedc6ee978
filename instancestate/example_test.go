package instancestate_test

import (
	"context"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/instancestate"
	"github.com/readout-dev/readout/wire"
)

// ExampleNew shows an instance wiring the monitor beside its emitter: one
// Monitor per process, SetupDone once, Start and Finish around every
// prediction, Close on shutdown.
func ExampleNew() {
	em, err := emitter.New(emitter.Options{})
	if err != nil {
		panic(err) // only bad options fail
	}
	mon, err := instancestate.New(instancestate.Options{
		Sink:             em, // reports every 15 s by default
		DeploymentKey:    "acme/llama",
		DockerImageURI:   "r8.im/acme/llama@sha256:...",
		Hardware:         "gpu-a100-large",
		ComputeUnit:      "gpu",
		ComputeUnitCount: 1,
		InstanceID:       "llama-7f9c-x2k",
		Version:          "v42",
		Metadata:         []wire.Label{{Key: "namespace", Value: "models"}},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go mon.Run(ctx)

	// ... run the model's setup, then:
	mon.SetupDone()

	// Around every prediction:
	mon.Start()
	// ... predict ...
	_ = mon.Finish()

	// On shutdown: report the last interval, then close the emitter.
	cancel()
	mon.Close()
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = em.Close(ctx)
}
