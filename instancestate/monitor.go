// Package instancestate is the instance state monitor: it tracks what one
// model instance is doing (booting, idle, or running predictions) and
// reports, once per interval, how the interval's time was spent, as one
// wire.InstanceState event.
//
// An instance creates one Monitor at process start, calls Start and Finish
// around every prediction (or StartAt and FinishAt, with times it already
// read) and SetupDone when its setup ends, runs Run in a goroutine, and
// calls Close on shutdown to report the last, partial interval. See
// ExampleNew.
//
// # States
//
// The monitor starts in Boot. SetupDone moves it to Idle, or to Active when
// predictions are already running; after that it is Active while at least
// one prediction runs (the level, Starts minus Finishes, is at least 1) and
// Idle otherwise. Boot takes precedence: time before SetupDone is boot time
// even if a prediction runs during it, so ActiveNs counts only work done
// once set up. ConcurrencyNs, the integral of the level over the interval,
// counts every running prediction, boot or not.
//
// # Reports
//
// Intervals are contiguous: each starts where the previous one ended, the
// first when New is called. Run ends one every Interval; a late tick makes
// a longer interval rather than losing or repeating time. Every report
// holds ActiveNs + BootNs + IdleNs == IntervalEndNs - IntervalStartNs
// exactly, and ConcurrencyNs exactly, in nanoseconds of the monitor's
// clock: the monitor keeps integer nanosecond sums, updated at each change
// of state. An interval of zero length is not reported.
//
// The monitor's timeline is the wall-clock time at New plus the time since
// then measured on the monotonic clock (as time.Time.Sub measures it), so
// a step of the wall clock neither moves nor stretches an interval.
package instancestate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/readout-dev/readout/wire"
)

// DefaultInterval is the reporting interval when Options.Interval is 0.
const DefaultInterval = 15 * time.Second

// ErrUnmatchedFinish is what Finish returns when no prediction is running.
var ErrUnmatchedFinish = errors.New("instancestate: finish without a matching start")

// Sink receives the reports; *emitter.Emitter is one. EmitInstanceState
// must not block, and must not retain ev or its slices after returning; it
// returns false when the report was dropped.
type Sink interface {
	EmitInstanceState(ev *wire.InstanceState) bool
}

// State is what the instance is doing.
type State int

// The states, in the order an instance goes through them.
const (
	Boot   State = iota // setup has not ended
	Idle                // set up, no prediction running
	Active              // set up, at least one prediction running
)

// String returns the state's lowercase name.
func (s State) String() string {
	switch s {
	case Boot:
		return "boot"
	case Idle:
		return "idle"
	case Active:
		return "active"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Options configures a Monitor. Every zero value but Sink's means the
// default.
type Options struct {
	// Sink receives one report per interval. Required.
	Sink Sink
	// Interval is how often Run reports. Default 15 s.
	Interval time.Duration
	// Clock tells the time. Default time.Now (its monotonic reading alone,
	// which costs half as much).
	Clock func() time.Time

	// The instance's identity, copied into every report.
	DeploymentKey    string
	DockerImageURI   string
	Hardware         string
	ComputeUnit      string
	ComputeUnitCount uint32
	InstanceID       string
	Version          string
	// Metadata is reported as the events' instance metadata (pod name,
	// namespace and the like). New copies it.
	Metadata []wire.Label
}

// Stats are the monitor's counters.
type Stats struct {
	Level             int64  // predictions running now
	UnmatchedFinishes uint64 // Finish calls refused with ErrUnmatchedFinish
	Reports           uint64 // reports the sink accepted
	Dropped           uint64 // reports the sink refused
}

// totals are one interval's sums so far, in nanoseconds.
type totals struct {
	active, boot, idle, concurrency uint64
}

// Monitor tracks one instance's state. Its methods are safe for concurrent
// use.
type Monitor struct {
	sink     Sink
	interval time.Duration
	clock    func() time.Time // nil: the monotonic clock
	base     time.Time        // the clock at New
	baseNs   int64            // base in Unix ns: the timeline's origin
	identity wire.InstanceState

	// mu guards the state; Start and Finish hold it for a few additions.
	mu        sync.Mutex
	level     int64
	setUp     bool
	last      int64 // when the sums were last brought up to date
	from      int64 // the current interval's start
	sums      totals
	unmatched uint64
	reports   uint64
	dropped   uint64

	// emitMu orders reports: each interval is cut and sent before the
	// next one is cut, so reports leave in interval order.
	emitMu sync.Mutex
	closed bool
	runs   sync.WaitGroup // Run calls in progress
	stop   chan struct{}  // closed by Close, to end Run
}

// New returns a Monitor in Boot, whose first interval starts now. It fails
// only on bad options.
func New(opts Options) (*Monitor, error) {
	if opts.Sink == nil {
		return nil, errors.New("instancestate: Options.Sink is required")
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("instancestate: negative interval %v", opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	m := &Monitor{
		sink:     opts.Sink,
		interval: opts.Interval,
		clock:    opts.Clock,
		identity: wire.InstanceState{
			DeploymentKey:    opts.DeploymentKey,
			DockerImageURI:   opts.DockerImageURI,
			Hardware:         opts.Hardware,
			ComputeUnit:      opts.ComputeUnit,
			ComputeUnitCount: opts.ComputeUnitCount,
			InstanceID:       opts.InstanceID,
			Version:          opts.Version,
			InstanceMetadata: append([]wire.Label(nil), opts.Metadata...),
		},
		stop: make(chan struct{}),
	}
	// A report the emitter would refuse would be refused every interval:
	// refuse the options instead.
	if err := wire.InstanceStateMember(&m.identity).Check(wire.DefaultMaxMessageSize); err != nil {
		return nil, fmt.Errorf("instancestate: the identity and metadata cannot be reported: %w", err)
	}
	m.base = time.Now()
	if m.clock != nil {
		m.base = m.clock()
	}
	m.baseNs = m.base.UnixNano()
	m.last, m.from = m.baseNs, m.baseNs
	return m, nil
}

// at places t on the monitor's timeline.
func (m *Monitor) at(t time.Time) int64 { return m.baseNs + int64(t.Sub(m.base)) }

// now reads the clock. It is called before taking mu, to keep the critical
// section short; two callers may therefore arrive out of clock order, and
// advanceLocked counts the later one as happening at the earlier one's time.
func (m *Monitor) now() int64 {
	if m.clock == nil {
		return m.baseNs + int64(time.Since(m.base))
	}
	return m.at(m.clock())
}

// advanceLocked adds the time since last, spent in the current state, to
// the sums. A time before last (see now) adds nothing.
func (m *Monitor) advanceLocked(now int64) {
	if now <= m.last {
		return
	}
	dt := uint64(now - m.last)
	m.last = now
	switch {
	case !m.setUp:
		m.sums.boot += dt
	case m.level > 0:
		m.sums.active += dt
	default:
		m.sums.idle += dt
	}
	m.sums.concurrency += uint64(m.level) * dt
}

// Start records that a prediction started. It does not allocate; reading
// the clock is most of its cost.
func (m *Monitor) Start() { m.start(m.now()) }

// StartAt is Start at t, for a caller that already read the clock for the
// request (to time it, say): it saves Start's clock reading. A t before
// the monitor's latest change counts as that change's time.
func (m *Monitor) StartAt(t time.Time) { m.start(m.at(t)) }

func (m *Monitor) start(now int64) {
	m.mu.Lock()
	m.advanceLocked(now)
	m.level++
	m.mu.Unlock()
}

// Finish records that a prediction finished. Without a matching Start it
// changes nothing, is counted in Stats.UnmatchedFinishes, and returns
// ErrUnmatchedFinish: the level never goes below 0.
func (m *Monitor) Finish() error { return m.finish(m.now()) }

// FinishAt is Finish at t, as StartAt is Start at t.
func (m *Monitor) FinishAt(t time.Time) error { return m.finish(m.at(t)) }

func (m *Monitor) finish(now int64) error {
	m.mu.Lock()
	if m.level == 0 {
		m.unmatched++
		m.mu.Unlock()
		return ErrUnmatchedFinish
	}
	m.advanceLocked(now)
	m.level--
	m.mu.Unlock()
	return nil
}

// SetupDone records that setup ended: the end of Boot. Later calls change
// nothing.
func (m *Monitor) SetupDone() {
	now := m.now()
	m.mu.Lock()
	m.advanceLocked(now)
	m.setUp = true
	m.mu.Unlock()
}

// State returns what the instance is doing now.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.setUp:
		return Boot
	case m.level > 0:
		return Active
	}
	return Idle
}

// Stats returns the monitor's counters.
func (m *Monitor) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Level: m.level, UnmatchedFinishes: m.unmatched, Reports: m.reports, Dropped: m.dropped}
}

// Tick ends the current interval at now, reports it, and starts the next.
// It reports whether a report went out and the sink accepted it: an empty
// interval (now not after the interval's start) is not reported, and after
// Close nothing is. Run calls Tick every Interval; tests call it with the
// times they choose.
func (m *Monitor) Tick(now time.Time) bool {
	return m.tick(m.at(now))
}

func (m *Monitor) tick(now int64) bool {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	if m.closed {
		return false
	}
	return m.report(now)
}

// report cuts the interval at now and sends it. emitMu is held.
func (m *Monitor) report(now int64) bool {
	m.mu.Lock()
	m.advanceLocked(now)
	start, end, sums := m.from, m.last, m.sums
	m.from, m.sums = end, totals{}
	m.mu.Unlock()
	if end == start {
		return false
	}
	ev := m.identity
	ev.IntervalStartNs, ev.IntervalEndNs = start, end
	ev.ActiveNs, ev.BootNs, ev.IdleNs, ev.ConcurrencyNs = sums.active, sums.boot, sums.idle, sums.concurrency
	ok := m.sink.EmitInstanceState(&ev)
	m.mu.Lock()
	if ok {
		m.reports++
	} else {
		m.dropped++
	}
	m.mu.Unlock()
	return ok
}

// Run reports every Interval until ctx ends or Close is called. It does not
// report the last, partial interval: Close does.
func (m *Monitor) Run(ctx context.Context) {
	m.emitMu.Lock()
	if m.closed {
		m.emitMu.Unlock()
		return
	}
	m.runs.Add(1) // under emitMu, so Close's Wait cannot miss it
	m.emitMu.Unlock()
	defer m.runs.Done()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-t.C:
			m.tick(m.now())
		}
	}
}

// Close reports the last, partial interval, ends Run and waits for it to
// return. Nothing is reported after Close; Start, Finish and SetupDone
// still work but go unreported. Later calls do nothing.
func (m *Monitor) Close() {
	m.emitMu.Lock()
	if m.closed {
		m.emitMu.Unlock()
		return
	}
	m.closed = true
	m.report(m.now())
	m.emitMu.Unlock()
	close(m.stop)
	m.runs.Wait()
}
