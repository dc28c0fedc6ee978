package window

import (
	"time"

	"github.com/readout-dev/readout/wire"
)

// OtherModel is the model id that models past the per-window model cap fold
// into.
const OtherModel = "__other__"

// overflowSource marks an overflow key; its rows have request_source "",
// which no real event has (real ones carry an enumerant name).
const overflowSource = 0xffff

// Key is a group's dimensions.
type Key struct {
	ModelID   string
	Backend   string
	AccountID uint64
	ColoID    uint32
	ErrorCode uint32
	Source    uint16
}

// Window is one tumbling window's groups.
type Window struct {
	Start  int64 // Unix ns
	index  map[Key]int32
	groups []Group
	keys   []Key
	models map[string]struct{}
	strs   map[string]string // interned key strings, shared by the window's keys
	st     *streams          // the stream tables' state; nil until a stream event
}

func newWindow(start int64) *Window {
	return &Window{
		Start:  start,
		index:  make(map[Key]int32),
		models: make(map[string]struct{}),
		strs:   make(map[string]string),
	}
}

// Len is the number of groups, of every table.
func (w *Window) Len() int { return len(w.groups) + w.st.groups() }

// intern returns a copy of s that does not alias the caller's buffer, shared
// by every key of the window that holds the same text.
func (w *Window) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := w.strs[s]; ok {
		return v
	}
	v := string([]byte(s))
	w.strs[v] = v
	return v
}

// Config bounds the aggregation.
type Config struct {
	Width     time.Duration // window width; must be positive
	MaxGroups int           // groups per window before keys fold into overflow keys
	MaxModels int           // distinct models per window before models fold into OtherModel
	// MaxTotalGroups: groups across all open windows before new keys fold
	// into overflow keys; 0 for no limit beyond MaxGroups per window.
	MaxTotalGroups int
}

// Aggregator holds the open windows. Not safe for concurrent use.
type Aggregator struct {
	cfg     Config
	width   int64
	windows map[int64]*Window
	last    *Window // the window of the previous Add
	groups  int
	// OnOverflow, when set, is called for each folded event with the
	// window and the original model id (which aliases the event).
	OnOverflow func(windowStart int64, model string)
}

// New returns an empty aggregator.
func New(cfg Config) *Aggregator {
	return &Aggregator{cfg: cfg, width: int64(cfg.Width), windows: make(map[int64]*Window)}
}

// Start returns the start of the window holding event time ts (Unix ns).
func (a *Aggregator) Start(ts int64) int64 {
	s := ts - ts%a.width
	if ts < 0 && s != ts {
		s -= a.width
	}
	return s
}

// Add folds an inference event with event time ts into its window. Strings
// in v may alias a buffer the caller reuses.
func (a *Aggregator) Add(v *wire.Inference, ts int64, neurons float64) {
	start := a.Start(ts)
	w := a.last // most events fall in the window of the one before
	if w == nil || w.Start != start {
		w = a.window(ts)
	}
	k := Key{
		ModelID:   v.ModelID,
		Backend:   v.Backend,
		AccountID: v.AccountID,
		ColoID:    v.ColoID,
		ErrorCode: v.ErrorCode,
		Source:    uint16(v.RequestSource),
	}
	i, ok := w.index[k]
	if !ok {
		i = a.insert(w, k)
	}
	w.groups[i].add(v, neurons)
}

// insert finds or creates the group for a key not in the window, folding it
// into an overflow key when a cap is reached.
func (a *Aggregator) insert(w *Window, k Key) int32 {
	folded := false
	if _, known := w.models[k.ModelID]; !known {
		if len(w.models) >= a.cfg.MaxModels {
			k = Key{ModelID: OtherModel, Source: overflowSource}
			folded = true
		} else {
			w.models[w.intern(k.ModelID)] = struct{}{}
		}
	}
	if !folded {
		full := len(w.groups) >= a.cfg.MaxGroups || (a.cfg.MaxTotalGroups > 0 && a.groups >= a.cfg.MaxTotalGroups)
		if _, ok := w.index[k]; !ok && full {
			k = Key{ModelID: k.ModelID, Source: overflowSource}
			folded = true
		}
	}
	if folded {
		if a.OnOverflow != nil {
			a.OnOverflow(w.Start, k.ModelID)
		}
	}
	if i, ok := w.index[k]; ok {
		return i
	}
	k.ModelID = w.intern(k.ModelID)
	k.Backend = w.intern(k.Backend)
	i := int32(len(w.groups))
	w.index[k] = i
	w.groups = append(w.groups, Group{})
	w.keys = append(w.keys, k)
	a.groups++
	return i
}

// Windows is the number of open windows.
func (a *Aggregator) Windows() int { return len(a.windows) }

// Groups is the number of groups across open windows.
func (a *Aggregator) Groups() int { return a.groups }

// Closable returns, oldest first, the windows whose end plus lateness is at
// or before now (Unix ns); with all set, every open window.
func (a *Aggregator) Closable(now int64, lateness time.Duration, all bool) []*Window {
	var out []*Window
	for start, w := range a.windows {
		if all || start+a.width+int64(lateness) <= now {
			out = append(out, w)
		}
	}
	sortWindows(out)
	return out
}

// Remove drops a window once its rows are committed.
func (a *Aggregator) Remove(w *Window) {
	if a.windows[w.Start] == w {
		delete(a.windows, w.Start)
		a.groups -= w.Len()
	}
	if a.last == w {
		a.last = nil
	}
}

func sortWindows(ws []*Window) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && ws[j].Start < ws[j-1].Start; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// Get returns the open window that starts at start, or nil.
func (a *Aggregator) Get(start int64) *Window { return a.windows[start] }
