// Package prediction is the prediction tracker: it follows one prediction
// from start to its terminal state, tells subscribers (a webhook sender,
// say) about its progress, and reports it once, as one wire.Prediction
// event, when it is stopped.
//
// An instance's worker creates a Tracker when it starts a prediction, with
// `defer t.Stop()`; the worker calls Output as output arrives, the billing
// setters (SetTokens, AddImages) and SetAttribute as facts come in, and
// one of Succeed, Fail, Cancel or Abort when it ends. See ExampleNew.
//
// # One goroutine owns the state
//
// The prediction's state lives in one goroutine that New starts and Stop
// ends; every method sends it a request and waits for the answer. So the
// methods are safe for concurrent use (a cancel request may arrive on
// another goroutine than the worker's), and each takes effect wholly
// before or after any other.
//
// # The rules
//
//   - The first terminal transition (Succeed, Fail, Cancel, Abort) wins.
//     Later ones, and Output after one, are refused with an error wrapping
//     ErrFinished and change nothing. SetTokens, AddImages and SetAttribute
//     still work until Stop: billing figures often arrive with the end.
//   - The terminal update (Completed) is held until Stop, which delivers it
//     to every subscriber exactly once, as their last update, and then
//     closes their channels.
//   - Stop emits the one wire.Prediction event. A prediction still
//     Processing at Stop is Aborted, with CancelReason StoppedReason and
//     the time of Stop as its completion. Calling Stop again does nothing.
//   - After Stop every other method returns ErrStopped.
//   - A change that would make the report something the forwarder refuses
//     (a string that is not UTF-8, a message over its size limit) is
//     refused with an error and changes nothing: the one report is never
//     dropped for its contents.
//
// Every Tracker must be stopped: its goroutine, and its subscribers'
// channels, end only then.
package prediction

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/readout-dev/readout/wire"
)

// StoppedReason is the CancelReason of a prediction stopped while still
// processing.
const StoppedReason = "stopped"

// MaxReasonBytes is the longest error code or cancel reason accepted.
// Attributes may fill the report up to this much below the forwarder's
// message size limit, so that the terminal transition always fits.
const MaxReasonBytes = 1 << 10

// reportLimit is the size the report may reach before its terminal
// reason; the 8 bytes are the reason's NUL and padding.
const reportLimit = wire.DefaultMaxMessageSize - MaxReasonBytes - 8

var (
	// ErrFinished is wrapped by the error of a transition refused because
	// the prediction already reached a terminal state.
	ErrFinished = errors.New("prediction: already finished")
	// ErrStopped is what the methods return after Stop.
	ErrStopped = errors.New("prediction: tracker stopped")
)

// Sink receives the report; *emitter.Emitter is one. EmitPrediction must
// not block, and must not retain ev or its slices after returning; it
// returns false when the report was dropped.
type Sink interface {
	EmitPrediction(ev *wire.Prediction) bool
}

// Kind says what an update is about.
type Kind int

// The update kinds, in the order a subscriber sees them.
const (
	Started   Kind = iota // the first update of every subscription
	Output                // one piece of output
	Completed             // the terminal state, delivered at Stop; the last update
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case Started:
		return "started"
	case Output:
		return "output"
	case Completed:
		return "completed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Update is what a subscriber receives.
type Update struct {
	Kind Kind
	// Prediction is the prediction as of the update: for Completed, the
	// report Stop emitted. Its Attributes are never modified afterwards.
	Prediction wire.Prediction
	// Output is (a copy of) the piece passed to Output, for Kind Output.
	// Every subscriber gets the same slice: read it, do not modify it.
	Output []byte
}

// Options configures a Tracker. Every zero value but Sink's means the
// default.
type Options struct {
	// Sink receives the report. Required.
	Sink Sink
	// Clock tells the time. Default time.Now.
	Clock func() time.Time

	PredictionID  string
	DeploymentKey string
	Version       string
	// StartedAt is when the prediction started running. Default: when New
	// is called.
	StartedAt time.Time
	// CreatedAt is when the prediction was created. Default: StartedAt.
	CreatedAt time.Time
}

// Tracker follows one prediction. Its methods are safe for concurrent use.
type Tracker struct {
	reqs chan request
	done chan struct{} // closed when the owning goroutine has ended
}

// request is one method call, run by the owning goroutine.
type request struct {
	f     func(*state) error
	reply chan error
}

// state is the prediction, owned by the goroutine running loop.
type state struct {
	sink    Sink
	clock   func() time.Time
	base    time.Time // the clock at New
	ev      wire.Prediction
	subs    []*subscription
	stopped bool
}

// New starts tracking a prediction that is Processing. It fails only on
// bad options.
func New(opts Options) (*Tracker, error) {
	if opts.Sink == nil {
		return nil, errors.New("prediction: Options.Sink is required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &state{sink: opts.Sink, clock: opts.Clock, base: opts.Clock()}
	s.ev = wire.Prediction{
		PredictionID:  opts.PredictionID,
		DeploymentKey: opts.DeploymentKey,
		Version:       opts.Version,
		Status:        wire.PredictionProcessing,
		StartedAtNs:   s.base.UnixNano(),
	}
	if !opts.StartedAt.IsZero() {
		s.ev.StartedAtNs = opts.StartedAt.UnixNano()
	}
	s.ev.CreatedAtNs = s.ev.StartedAtNs
	if !opts.CreatedAt.IsZero() {
		s.ev.CreatedAtNs = opts.CreatedAt.UnixNano()
	}
	if err := reportable(&s.ev); err != nil {
		return nil, fmt.Errorf("prediction: the identity cannot be reported: %w", err)
	}
	t := &Tracker{reqs: make(chan request), done: make(chan struct{})}
	go t.loop(s)
	return t, nil
}

// loop is the owning goroutine: it runs requests one at a time until Stop.
func (t *Tracker) loop(s *state) {
	defer close(t.done)
	for !s.stopped {
		r := <-t.reqs
		r.reply <- r.f(s)
	}
}

// do runs f on the state in the owning goroutine and returns its error, or
// ErrStopped after Stop.
func (t *Tracker) do(f func(*state) error) error {
	reply := make(chan error, 1)
	select {
	case t.reqs <- request{f, reply}:
		return <-reply
	case <-t.done:
		return ErrStopped
	}
}

// reportable says why the forwarder would refuse ev, leaving room for the
// terminal reason, or nil.
func reportable(ev *wire.Prediction) error {
	return wire.PredictionMember(ev).Check(reportLimit)
}

// now is the time on the tracker's timeline: the wall-clock time at New
// plus the monotonic time since.
func (s *state) now() int64 { return s.base.UnixNano() + int64(s.clock().Sub(s.base)) }

// snapshot returns the prediction for an update. Attributes are replaced,
// never modified in place, so sharing them is safe.
func (s *state) snapshot() wire.Prediction { return s.ev }

// publish queues u for every subscriber that has not canceled, and forgets
// those that have.
func (s *state) publish(u Update, last bool) {
	live := s.subs[:0]
	for _, sub := range s.subs {
		if sub.canceled() {
			continue
		}
		sub.push(u, last)
		live = append(live, sub)
	}
	clear(s.subs[len(live):])
	s.subs = live
}

func (s *state) refuseIfFinished() error {
	if s.ev.Status.Terminal() {
		return fmt.Errorf("%w: %s", ErrFinished, s.ev.Status)
	}
	return nil
}

// Subscribe returns a channel of updates and a function that cancels the
// subscription (and closes the channel; calling it again does nothing).
// The first update is Started, with the prediction as it is now: subscribe
// before the first Output to see every output. The last is Completed,
// delivered at Stop, after which the channel is closed. After Stop the
// channel is closed at once. The subscriber must read until the channel is
// closed or cancel: a subscription's goroutine ends only then.
func (t *Tracker) Subscribe() (<-chan Update, func()) {
	sub := newSubscription()
	err := t.do(func(s *state) error {
		s.subs = append(s.subs, sub)
		sub.push(Update{Kind: Started, Prediction: s.snapshot()}, false)
		return nil
	})
	if err != nil {
		sub.end()
	}
	go sub.pump()
	return sub.ch, sub.cancel
}

// Output passes one piece of output (a token, a JSON value, as the caller
// encodes it) to the subscribers; Output copies it. It is refused after a
// terminal transition.
func (t *Tracker) Output(piece []byte) error {
	piece = append([]byte(nil), piece...)
	return t.do(func(s *state) error {
		if err := s.refuseIfFinished(); err != nil {
			return err
		}
		s.publish(Update{Kind: Output, Prediction: s.snapshot(), Output: piece}, false)
		return nil
	})
}

// SetTokens sets the billing token counts.
func (t *Tracker) SetTokens(in, out uint32) error {
	return t.do(func(s *state) error {
		s.ev.InputTokens, s.ev.OutputTokens = in, out
		return nil
	})
}

// AddImages adds n to the billing image count, which stops at its
// maximum rather than wrapping.
func (t *Tracker) AddImages(n uint32) error {
	return t.do(func(s *state) error {
		s.ev.ImageCount += min(n, ^uint32(0)-s.ev.ImageCount)
		return nil
	})
}

// SetAttribute sets an attribute of the report (a compliance or moderation
// outcome, say), replacing the value of an attribute with the same key.
// It is refused when key or value is not UTF-8, or when the attribute
// would not fit (wire.MaxLabels attributes, and the message size limit).
func (t *Tracker) SetAttribute(key, value string) error {
	return t.do(func(s *state) error {
		attrs := make([]wire.Label, 0, len(s.ev.Attributes)+1)
		found := false
		for _, l := range s.ev.Attributes {
			if l.Key == key {
				l.Value, found = value, true
			}
			attrs = append(attrs, l)
		}
		if !found {
			attrs = append(attrs, wire.Label{Key: key, Value: value})
		}
		next := s.ev
		next.Attributes = attrs
		if err := reportable(&next); err != nil {
			return fmt.Errorf("prediction: attribute %q: %w", key, err)
		}
		s.ev = next
		return nil
	})
}

// Succeed ends the prediction as Succeeded.
func (t *Tracker) Succeed() error { return t.finish(wire.PredictionSucceeded, "", "") }

// Fail ends the prediction as Failed with the platform's error code (such
// as "E1234"), at most MaxReasonBytes of UTF-8.
func (t *Tracker) Fail(code string) error { return t.finish(wire.PredictionFailed, code, "") }

// Cancel ends the prediction as Canceled by its caller, for reason, at
// most MaxReasonBytes of UTF-8.
func (t *Tracker) Cancel(reason string) error { return t.finish(wire.PredictionCanceled, "", reason) }

// Abort ends the prediction as Aborted by the platform (an instance lost,
// a deadline), for reason, at most MaxReasonBytes of UTF-8.
func (t *Tracker) Abort(reason string) error { return t.finish(wire.PredictionAborted, "", reason) }

// finish makes the terminal transition to status. Nothing is published:
// the Completed update waits for Stop.
func (t *Tracker) finish(status wire.PredictionStatus, code, reason string) error {
	if len(code) > MaxReasonBytes || len(reason) > MaxReasonBytes {
		return fmt.Errorf("prediction: %s: reason or code longer than %d bytes", status, MaxReasonBytes)
	}
	if !utf8.ValidString(code) || !utf8.ValidString(reason) {
		return fmt.Errorf("prediction: %s: reason or code is not UTF-8", status)
	}
	return t.do(func(s *state) error {
		if err := s.refuseIfFinished(); err != nil {
			return err
		}
		s.ev.Status, s.ev.ErrorCode, s.ev.CancelReason = status, code, reason
		s.ev.CompletedAtNs = s.now()
		return nil
	})
}

// Stop reports the prediction (Aborted, if it is still Processing),
// delivers the Completed update to the subscribers, and ends the tracker.
// Later calls do nothing and return nil. Whether the sink kept the report
// is the sink's to count.
func (t *Tracker) Stop() error {
	err := t.do(func(s *state) error {
		if !s.ev.Status.Terminal() {
			s.ev.Status, s.ev.CancelReason = wire.PredictionAborted, StoppedReason
			s.ev.CompletedAtNs = s.now()
		}
		ev := s.ev
		s.sink.EmitPrediction(&ev)
		s.publish(Update{Kind: Completed, Prediction: ev}, true)
		s.stopped = true
		return nil
	})
	if errors.Is(err, ErrStopped) {
		return nil
	}
	<-t.done
	return err
}
