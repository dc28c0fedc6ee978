package prediction_test

import (
	"context"
	"log"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/prediction"
)

// ExampleNew shows a worker tracking one prediction: a webhook sender
// subscribes, the worker reports output and billing, and Stop reports the
// prediction once and delivers the completion.
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

	tr, err := prediction.New(prediction.Options{
		Sink:          em,
		PredictionID:  "rrr4z55ocneqzikepnug6xezpe",
		DeploymentKey: "acme/llama",
		Version:       "v42",
		CreatedAt:     time.Now().Add(-2 * time.Second), // when the API accepted it
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Stop() // reports the prediction; Aborted if nothing ended it

	updates, cancel := tr.Subscribe()
	defer cancel()
	go func() {
		for u := range updates { // ends after Completed
			log.Printf("webhook: %s %s", u.Kind, u.Prediction.Status)
		}
	}()

	for _, token := range []string{"Hello", ",", " world"} {
		_ = tr.Output([]byte(token))
	}
	_ = tr.SetTokens(12, 3)
	_ = tr.SetAttribute("moderation", "passed")
	if err := tr.Succeed(); err != nil {
		log.Printf("already ended: %v", err) // say, canceled by the caller meanwhile
	}
}
