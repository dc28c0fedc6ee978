package endpoints

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/readout-dev/readout/wire"
)

// Sink receives the lifecycle events; *emitter.Emitter is one.
// EmitLifecycle must not block, must not retain ev after returning, and
// must not call the Tracker (it is called with the Tracker's lock held); it
// returns false when the event was dropped.
type Sink interface {
	EmitLifecycle(ev *wire.Lifecycle) bool
}

// Presence is one endpoint of one model, present since BeginTs.
type Presence struct {
	ModelID  string
	Endpoint string
	BeginTs  int64 // Unix ns: the BeginTs its appearance carried
}

// Options configures a Tracker. Every zero value but Sink's means the
// default.
type Options struct {
	// Sink receives the events. Required.
	Sink Sink
	// Hostname is the host observing the endpoints, copied into every
	// event. Default os.Hostname(). Two Trackers running at once must not
	// share a hostname (see the package doc's rules).
	Hostname string
	// Clock tells the time. Default time.Now.
	Clock func() time.Time
	// Known are presences a previous process of this hostname announced
	// and did not end: its Presences, persisted by the caller. The Tracker
	// starts with them present and ends or carries them on at its first
	// Refresh without announcing them again. New copies it.
	Known []Presence
	// KeepOpenOnClose makes Close emit nothing, leaving every presence
	// open for the next process to carry on through Known. By default
	// Close ends every presence.
	KeepOpenOnClose bool
}

// Stats are the Tracker's counters.
type Stats struct {
	Present               int    // presences now
	Refreshes             uint64 // Refresh calls applied (not after Close)
	Appeared              uint64 // appearances the sink accepted
	Disappeared           uint64 // disappearances the sink accepted
	AppearancesDropped    uint64 // appearances the sink refused
	DisappearancesDropped uint64 // disappearances the sink refused: presences left without end
	Unreportable          uint64 // presences not tracked: their event cannot be encoded
}

// key is a presence's identity on this host.
type key struct{ model, endpoint string }

func compareKeys(a, b key) int {
	if c := cmp.Compare(a.model, b.model); c != 0 {
		return c
	}
	return cmp.Compare(a.endpoint, b.endpoint)
}

// entry is what the Tracker knows of a key listed in the latest Refresh.
type entry struct {
	begin        int64
	gen          uint64 // the latest Refresh that listed it
	unreportable bool   // listed, but its events cannot be encoded: never emitted
}

// ended is a presence that a Refresh or Close ends.
type ended struct {
	key
	begin int64
}

// Tracker follows the endpoints of a routing map from one Refresh to the
// next and emits their appearances and disappearances. Its methods are
// safe for concurrent use.
type Tracker struct {
	sink     Sink
	hostname string
	clock    func() time.Time
	base     time.Time // the clock at New
	baseNs   int64     // base in Unix ns: the timeline's origin
	keepOpen bool

	mu      sync.Mutex
	present map[key]*entry
	gen     uint64 // Refreshes so far
	last    int64  // the latest Refresh's time: the next one is later
	closed  bool
	stats   Stats // all but Present
	added   []key // scratch, reused by every Refresh
	gone    []ended
}

// New returns a Tracker with the Known presences present and nothing
// emitted. It fails only on bad options.
func New(opts Options) (*Tracker, error) {
	if opts.Sink == nil {
		return nil, errors.New("endpoints: Options.Sink is required")
	}
	host := opts.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("endpoints: hostname: %w", err)
		}
		host = h
	}
	t := &Tracker{
		sink:     opts.Sink,
		hostname: host,
		clock:    opts.Clock,
		keepOpen: opts.KeepOpenOnClose,
		present:  make(map[key]*entry, len(opts.Known)),
	}
	// Every event would be refused: refuse the options instead.
	if err := t.check("", ""); err != nil {
		return nil, fmt.Errorf("endpoints: the hostname %q cannot be reported: %w", host, err)
	}
	for i, p := range opts.Known {
		k := key{p.ModelID, p.Endpoint}
		if p.BeginTs <= 0 {
			return nil, fmt.Errorf("endpoints: known presence %d (%q, %q): BeginTs %d is not a time", i, p.ModelID, p.Endpoint, p.BeginTs)
		}
		if _, dup := t.present[k]; dup {
			return nil, fmt.Errorf("endpoints: known presence %d (%q, %q) is listed twice", i, p.ModelID, p.Endpoint)
		}
		if err := t.check(p.ModelID, p.Endpoint); err != nil {
			return nil, fmt.Errorf("endpoints: known presence %d (%q, %q) cannot be reported: %w", i, p.ModelID, p.Endpoint, err)
		}
		t.present[k] = &entry{begin: p.BeginTs}
	}
	if t.clock == nil {
		t.clock = time.Now
	}
	t.base = t.clock()
	t.baseNs = t.base.UnixNano()
	return t, nil
}

// check reports whether an event of this host about model and endpoint can
// be encoded, as the emitter and the forwarder require.
func (t *Tracker) check(model, endpoint string) error {
	ev := wire.Lifecycle{EventType: wire.LifecycleEndpoint, ModelID: model, Hostname: t.hostname, Endpoint: endpoint}
	return wire.LifecycleMember(&ev).Check(wire.DefaultMaxMessageSize)
}

// now is the time on the Tracker's timeline (see the package doc).
func (t *Tracker) now() int64 { return t.baseNs + int64(t.clock().Sub(t.base)) }

// Refresh takes current, the whole routing map at this refresh (model ID
// to the addresses of its endpoints), as the set of endpoints present now:
// it emits a disappearance for each presence current no longer lists and
// an appearance for each endpoint it lists that was not present. After
// Close it does nothing.
func (t *Tracker) Refresh(current map[string][]string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	// Strictly later than the previous Refresh, so that an endpoint's new
	// presence never begins where or before its previous one ended.
	if now <= t.last {
		now = t.last + 1
	}
	t.last = now
	t.gen++
	t.stats.Refreshes++

	added := t.added[:0]
	for model, eps := range current {
		for _, ep := range eps {
			k := key{model, ep}
			if e, ok := t.present[k]; ok {
				e.gen = t.gen // a duplicate within this Refresh lands here too
				continue
			}
			e := &entry{begin: now, gen: t.gen}
			if t.check(model, ep) != nil {
				e.unreportable = true
				t.stats.Unreportable++
			} else {
				added = append(added, k)
			}
			t.present[k] = e
		}
	}
	gone := t.gone[:0]
	for k, e := range t.present {
		if e.gen != t.gen {
			if !e.unreportable {
				gone = append(gone, ended{k, e.begin})
			}
			delete(t.present, k)
		}
	}

	t.emitEnded(gone, now)
	slices.SortFunc(added, compareKeys)
	for _, k := range added {
		ev := wire.Lifecycle{BeginTs: now, EventType: wire.LifecycleEndpoint, ModelID: k.model, Hostname: t.hostname, Endpoint: k.endpoint}
		if t.sink.EmitLifecycle(&ev) {
			t.stats.Appeared++
		} else {
			t.stats.AppearancesDropped++
		}
	}
	clear(added) // let the strings go
	clear(gone)
	t.added, t.gone = added[:0], gone[:0]
}

// emitEnded sorts gone and emits a disappearance for each, ending at now.
// mu is held.
func (t *Tracker) emitEnded(gone []ended, now int64) {
	slices.SortFunc(gone, func(a, b ended) int { return compareKeys(a.key, b.key) })
	for _, g := range gone {
		// A known presence may begin after now if the previous process's
		// clock was ahead: end it where it began rather than before.
		end := max(now, g.begin)
		ev := wire.Lifecycle{BeginTs: g.begin, EndTs: end, EventType: wire.LifecycleEndpoint, ModelID: g.model, Hostname: t.hostname, Endpoint: g.endpoint}
		if t.sink.EmitLifecycle(&ev) {
			t.stats.Disappeared++
		} else {
			t.stats.DisappearancesDropped++
		}
	}
}

// Presences returns the presences the Tracker holds open, sorted by model
// ID and endpoint: what a caller persists to pass as Options.Known to the
// next process. After Close it is empty, unless KeepOpenOnClose is set.
func (t *Tracker) Presences() []Presence {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := make([]Presence, 0, len(t.present))
	for k, e := range t.present {
		if !e.unreportable {
			ps = append(ps, Presence{ModelID: k.model, Endpoint: k.endpoint, BeginTs: e.begin})
		}
	}
	slices.SortFunc(ps, func(a, b Presence) int {
		return compareKeys(key{a.ModelID, a.Endpoint}, key{b.ModelID, b.Endpoint})
	})
	return ps
}

// Stats returns the Tracker's counters.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	for _, e := range t.present {
		if !e.unreportable {
			s.Present++
		}
	}
	return s
}

// Close ends the Tracker: it emits a disappearance, EndTs = now, for every
// presence (none with KeepOpenOnClose), and later Refreshes do nothing.
// Later calls do nothing.
func (t *Tracker) Close() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if t.keepOpen {
		return
	}
	if now <= t.last {
		now = t.last + 1
	}
	t.last = now
	gone := t.gone[:0]
	for k, e := range t.present {
		if !e.unreportable {
			gone = append(gone, ended{k, e.begin})
		}
	}
	clear(t.present)
	t.emitEnded(gone, now)
	t.gone = nil
}
