// Package setuprun reports one model instance's setup run: how it ended,
// when it was scheduled, started and ended, and the last 20 KiB of its
// output, as one wire.SetupRun event.
//
// An instance creates a Reporter when setup starts, points the setup
// process's stdout and stderr at it (it is an io.Writer, safe for
// concurrent writes), and calls Ready or Failed when setup ends. With
// Options.Timeout, a setup that has not ended in time is reported as timed
// out, and a later Ready or Failed returns ErrReported: each run is
// reported exactly once. See ExampleNew.
//
// The output kept is the end of what was written, cut so that it never
// starts in the middle of a rune; LogsDroppedBytes counts the bytes left
// out. Each run of bytes that are not UTF-8 becomes one U+FFFD (the
// forwarder refuses Text that is not UTF-8).
package setuprun

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/readout-dev/readout/wire"
)

// ErrReported is what Done returns once the run has been reported, by an
// earlier Done or by the timeout.
var ErrReported = errors.New("setuprun: already reported")

// Sink receives the report; *emitter.Emitter is one. EmitSetupRun must not
// block, and must not retain ev or its slices after returning; it returns
// false when the report was dropped.
type Sink interface {
	EmitSetupRun(ev *wire.SetupRun) bool
}

// Options configures a Reporter. Every zero value but Sink's means the
// default.
type Options struct {
	// Sink receives the report. Required.
	Sink Sink
	// Clock tells the time. Default time.Now.
	Clock func() time.Time
	// ScheduledAt is when the instance was scheduled, if known.
	ScheduledAt time.Time
	// StartedAt is when setup started. Default: when New is called.
	StartedAt time.Time
	// Timeout, when set, is how long after StartedAt setup may run before
	// it is reported as wire.SetupTimeout. Default: no timeout.
	Timeout time.Duration

	DeploymentKey string
	InstanceID    string
	// InstanceMetadata (pod name, namespace and the like) and
	// RuntimeMetadata (the versions of the runtime's parts) are copied by
	// New.
	InstanceMetadata []wire.Label
	RuntimeMetadata  []wire.Label
}

// Reporter collects one setup run's output and reports the run once. Its
// methods are safe for concurrent use.
type Reporter struct {
	sink  Sink
	clock func() time.Time
	base  time.Time // the clock at New
	// ev holds the identity and the times known at New; Done fills in the
	// rest.
	ev wire.SetupRun

	mu       sync.Mutex
	logs     logBuffer
	reported bool
	timer    *time.Timer // the timeout, or nil
}

// New returns a Reporter for a setup run that starts now (or at
// Options.StartedAt). It fails only on bad options.
func New(opts Options) (*Reporter, error) {
	if opts.Sink == nil {
		return nil, errors.New("setuprun: Options.Sink is required")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("setuprun: negative timeout %v", opts.Timeout)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	r := &Reporter{sink: opts.Sink, clock: opts.Clock, base: opts.Clock()}
	r.ev = wire.SetupRun{
		StartedAtNs:      r.base.UnixNano(),
		DeploymentKey:    opts.DeploymentKey,
		InstanceID:       opts.InstanceID,
		InstanceMetadata: append([]wire.Label(nil), opts.InstanceMetadata...),
		RuntimeMetadata:  append([]wire.Label(nil), opts.RuntimeMetadata...),
	}
	if !opts.ScheduledAt.IsZero() {
		r.ev.ScheduledAtNs = opts.ScheduledAt.UnixNano()
	}
	if !opts.StartedAt.IsZero() {
		r.ev.StartedAtNs = opts.StartedAt.UnixNano()
	}
	// A report the emitter would refuse even with full logs is refused
	// here instead, when nothing has been lost yet.
	probe := r.ev
	probe.Logs = strings.Repeat("x", MaxLogBytes)
	if err := wire.SetupRunMember(&probe).Check(wire.DefaultMaxMessageSize); err != nil {
		return nil, fmt.Errorf("setuprun: the identity and metadata cannot be reported: %w", err)
	}
	if opts.Timeout > 0 {
		left := opts.Timeout - time.Duration(r.base.UnixNano()-r.ev.StartedAtNs)
		r.mu.Lock() // the timer may fire before it is stored
		r.timer = time.AfterFunc(max(0, left), func() { _ = r.Done(wire.SetupTimeout) })
		r.mu.Unlock()
	}
	return r, nil
}

// Write keeps the end of the setup output. It never fails; output written
// after the run was reported is discarded.
func (r *Reporter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reported {
		r.logs.write(p)
	}
	return len(p), nil
}

// Ready reports that setup succeeded; it is Done(wire.SetupReady).
func (r *Reporter) Ready() error { return r.Done(wire.SetupReady) }

// Failed reports that setup failed; it is Done(wire.SetupFailed).
func (r *Reporter) Failed() error { return r.Done(wire.SetupFailed) }

// Done reports the run as ended now with status and stops the timeout. It
// returns an error wrapping ErrReported, and reports nothing, when the run
// was already reported. Whether the sink kept the report is the sink's to
// count.
func (r *Reporter) Done(status wire.SetupStatus) error {
	if !status.Valid() {
		return fmt.Errorf("setuprun: invalid status %d", status)
	}
	completed := r.base.UnixNano() + int64(r.clock().Sub(r.base)) // monotonic since New
	r.mu.Lock()
	if r.reported {
		was := r.ev.Status
		r.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrReported, was)
	}
	r.reported = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.ev.Status, r.ev.CompletedAtNs = status, completed
	r.ev.Logs, r.ev.LogsDroppedBytes = r.logs.logs()
	r.logs = logBuffer{}
	ev := r.ev
	r.mu.Unlock()
	r.sink.EmitSetupRun(&ev)
	return nil
}

// Report returns the report once the run has been reported, and false
// before.
func (r *Reporter) Report() (wire.SetupRun, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ev, r.reported
}
