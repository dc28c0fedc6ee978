package setuprun

import (
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

func TestTimings(t *testing.T) {
	s := int64(time.Second)
	for _, tc := range []struct {
		name                         string
		ev                           wire.SetupRun
		toStarted, toReady, duration time.Duration
		knowStarted, knowReady       bool
	}{
		{"ready", wire.SetupRun{Status: wire.SetupReady, ScheduledAtNs: t0, StartedAtNs: t0 + 3*s, CompletedAtNs: t0 + 10*s},
			3 * time.Second, 10 * time.Second, 7 * time.Second, true, true},
		{"failed", wire.SetupRun{Status: wire.SetupFailed, ScheduledAtNs: t0, StartedAtNs: t0 + 3*s, CompletedAtNs: t0 + 10*s},
			3 * time.Second, 0, 7 * time.Second, true, false},
		{"not scheduled", wire.SetupRun{Status: wire.SetupReady, StartedAtNs: t0 + 3*s, CompletedAtNs: t0 + 10*s},
			0, 0, 7 * time.Second, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d, ok := ScheduledToStarted(&tc.ev); d != tc.toStarted || ok != tc.knowStarted {
				t.Fatalf("unexpected ScheduledToStarted; got %v, %v; want %v, %v", d, ok, tc.toStarted, tc.knowStarted)
			}
			if d, ok := ScheduledToReady(&tc.ev); d != tc.toReady || ok != tc.knowReady {
				t.Fatalf("unexpected ScheduledToReady; got %v, %v; want %v, %v", d, ok, tc.toReady, tc.knowReady)
			}
			if d := Duration(&tc.ev); d != tc.duration {
				t.Fatalf("unexpected Duration; got %v; want %v", d, tc.duration)
			}
		})
	}
}
