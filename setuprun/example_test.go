package setuprun_test

import (
	"context"
	"log"
	"os/exec"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/setuprun"
	"github.com/readout-dev/readout/wire"
)

// ExampleNew shows an instance reporting its setup run: the setup
// process's output goes to the Reporter, and its outcome is reported once.
func ExampleNew() {
	em, err := emitter.New(emitter.Options{})
	if err != nil {
		log.Fatal(err) // only bad options fail
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = em.Close(ctx)
	}()

	rep, err := setuprun.New(setuprun.Options{
		Sink:             em,
		ScheduledAt:      time.Now().Add(-40 * time.Second), // from the orchestrator, when known
		Timeout:          10 * time.Minute,                  // then reported as timed out
		DeploymentKey:    "acme/llama",
		InstanceID:       "llama-7f9c-x2k",
		InstanceMetadata: []wire.Label{{Key: "namespace", Value: "models"}},
		RuntimeMetadata:  []wire.Label{{Key: "cog_version", Value: "0.9.4"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	setup := exec.Command("python", "-m", "setup")
	setup.Stdout, setup.Stderr = rep, rep
	if err := setup.Run(); err != nil {
		err = rep.Failed()
	} else {
		err = rep.Ready()
	}
	if err != nil {
		log.Printf("setup ended after its timeout: %v", err) // already reported as timed out
	}
	if ev, ok := rep.Report(); ok {
		d, _ := setuprun.ScheduledToReady(&ev)
		log.Printf("setup %s in %v, %v after scheduling", ev.Status, setuprun.Duration(&ev), d)
	}
}
