package setuprun

import (
	"time"

	"github.com/readout-dev/readout/wire"
)

// The timings callers record beside a report (as span attributes, say).
// Each is a difference of the report's times.

// ScheduledToStarted is how long the instance waited between being
// scheduled and starting setup; false when the report has no scheduling
// time.
func ScheduledToStarted(ev *wire.SetupRun) (time.Duration, bool) {
	if ev.ScheduledAtNs == 0 {
		return 0, false
	}
	return time.Duration(ev.StartedAtNs - ev.ScheduledAtNs), true
}

// ScheduledToReady is how long the instance took from being scheduled to
// being ready; false when the report has no scheduling time or setup did
// not succeed.
func ScheduledToReady(ev *wire.SetupRun) (time.Duration, bool) {
	if ev.ScheduledAtNs == 0 || ev.Status != wire.SetupReady {
		return 0, false
	}
	return time.Duration(ev.CompletedAtNs - ev.ScheduledAtNs), true
}

// Duration is how long setup ran, to its end or to the timeout.
func Duration(ev *wire.SetupRun) time.Duration {
	return time.Duration(ev.CompletedAtNs - ev.StartedAtNs)
}
