package window

import (
	"strings"
	"time"

	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// The stream tables' state in a window: additive groups for
// instance_state, predictions and downloads, and setup runs kept one row
// each. It sits beside the inference groups so that the window's flush,
// checkpoint and caps cover every table alike; a window that never saw a
// stream event has none (nil).

// StateKey is an instance_state group's dimensions.
type StateKey struct{ DeploymentKey, Hardware, ComputeUnit, Version string }

// PredictionKey is a predictions group's dimensions.
type PredictionKey struct {
	DeploymentKey, Version, ErrorCode string
	Status                            wire.PredictionStatus
}

// DownloadKey is a downloads group's dimensions.
type DownloadKey struct{ Host, URL string }

type stateGroup struct {
	reports                                   int64
	active, boot, idle, duration, concurrency int64
	instances                                 map[string]struct{}
}

type predictionGroup struct {
	predictions, succeeded, failed, canceled, aborted int64
	inputTokens, outputTokens, images                 int64
	started, predictNs                                int64
	bins                                              bins // predict time, ms
}

type downloadGroup struct {
	downloads, errors, bytes, durationUs int64
	bins                                 bins // duration, ms
}

// setupRun is one setup run as the row needs it; strings are the window's.
type setupRun struct {
	instanceID, deploymentKey, logs string
	status                          wire.SetupStatus
	scheduled, started, completed   int64
	logsDropped                     uint64
}

type streams struct {
	state       map[StateKey]*stateGroup
	predictions map[PredictionKey]*predictionGroup
	downloads   map[DownloadKey]*downloadGroup
	setupRuns   []setupRun
	presences   []Presence // lifecycle: presences whose end arrived in this window
}

// Presence is one endpoint presence: from Begin to End (Unix ns), End 0
// while it lasts.
type Presence struct {
	ModelID, Endpoint, Hostname string
	Begin, End                  int64
	// Superseded: the collector ended it where a newer presence of the
	// endpoint began, without its disappearance (collector/presence.go).
	Superseded bool
}

func newStreams() *streams {
	return &streams{
		state:       map[StateKey]*stateGroup{},
		predictions: map[PredictionKey]*predictionGroup{},
		downloads:   map[DownloadKey]*downloadGroup{},
	}
}

// groups is the number of groups and rows the streams hold, which count
// toward the aggregator's caps like inference groups.
func (s *streams) groups() int {
	if s == nil {
		return 0
	}
	return len(s.state) + len(s.predictions) + len(s.downloads) + len(s.setupRuns) + len(s.presences)
}

// window returns the window holding event time ts, opening it if needed.
func (a *Aggregator) window(ts int64) *Window {
	start := a.Start(ts)
	w := a.last
	if w == nil || w.Start != start {
		w = a.windows[start]
		if w == nil {
			w = newWindow(start)
			a.windows[start] = w
		}
		a.last = w
	}
	return w
}

// streamsOf returns w's stream state, creating it on first use.
func (w *Window) streamsOf() *streams {
	if w.st == nil {
		w.st = newStreams()
	}
	return w.st
}

// full reports whether a new group in w would pass a cap: the per-window
// group cap counts each stream table apart, the total cap every group.
func (a *Aggregator) full(perTable int) bool {
	return perTable >= a.cfg.MaxGroups || (a.cfg.MaxTotalGroups > 0 && a.groups >= a.cfg.MaxTotalGroups)
}

// foldStream is called when a stream key folds into its table's overflow
// key (first dimension OtherModel, the rest empty).
func (a *Aggregator) foldStream(w *Window, dim string) {
	if a.OnOverflow != nil {
		a.OnOverflow(w.Start, dim)
	}
}

// AddInstanceState folds an instance-state report with event time ts into
// its window. Strings in v may alias a buffer the caller reuses.
func (a *Aggregator) AddInstanceState(v *wire.InstanceState, ts int64) {
	w := a.window(ts)
	st := w.streamsOf()
	k := StateKey{v.DeploymentKey, v.Hardware, v.ComputeUnit, v.Version}
	g := st.state[k]
	if g == nil {
		if a.full(len(st.state)) {
			a.foldStream(w, k.DeploymentKey)
			k = StateKey{DeploymentKey: OtherModel}
		}
		if g = st.state[k]; g == nil {
			k = StateKey{w.intern(k.DeploymentKey), w.intern(k.Hardware), w.intern(k.ComputeUnit), w.intern(k.Version)}
			g = &stateGroup{instances: map[string]struct{}{}}
			st.state[k] = g
			a.groups++
		}
	}
	g.reports++
	g.active = addSat(g.active, v.ActiveNs)
	g.boot = addSat(g.boot, v.BootNs)
	g.idle = addSat(g.idle, v.IdleNs)
	g.duration = addSat(g.duration, uint64(v.IntervalEndNs-v.IntervalStartNs)) // end > start: validated
	g.concurrency = addSat(g.concurrency, v.ConcurrencyNs)
	if _, ok := g.instances[v.InstanceID]; !ok {
		g.instances[strings.Clone(v.InstanceID)] = struct{}{}
	}
}

// AddPrediction folds a prediction's terminal report into its window.
func (a *Aggregator) AddPrediction(v *wire.Prediction, ts int64) {
	w := a.window(ts)
	st := w.streamsOf()
	k := PredictionKey{v.DeploymentKey, v.Version, v.ErrorCode, v.Status}
	g := st.predictions[k]
	if g == nil {
		if a.full(len(st.predictions)) {
			a.foldStream(w, k.DeploymentKey)
			k = PredictionKey{DeploymentKey: OtherModel, Status: v.Status}
		}
		if g = st.predictions[k]; g == nil {
			k = PredictionKey{w.intern(k.DeploymentKey), w.intern(k.Version), w.intern(k.ErrorCode), k.Status}
			g = &predictionGroup{}
			st.predictions[k] = g
			a.groups++
		}
	}
	g.predictions++
	switch v.Status {
	case wire.PredictionSucceeded:
		g.succeeded++
	case wire.PredictionFailed:
		g.failed++
	case wire.PredictionCanceled:
		g.canceled++
	case wire.PredictionAborted:
		g.aborted++
	}
	g.inputTokens += int64(v.InputTokens)
	g.outputTokens += int64(v.OutputTokens)
	g.images += int64(v.ImageCount)
	if v.StartedAtNs != 0 && v.CompletedAtNs >= v.StartedAtNs {
		d := v.CompletedAtNs - v.StartedAtNs
		g.started++
		g.predictNs = addSat(g.predictNs, uint64(d))
		g.bins.add(float64(d) / 1e6)
	}
}

// AddDownload folds a download report into its window.
func (a *Aggregator) AddDownload(v *wire.Download, ts int64) {
	w := a.window(ts)
	st := w.streamsOf()
	k := DownloadKey{v.Host, v.URL}
	g := st.downloads[k]
	if g == nil {
		if a.full(len(st.downloads)) {
			a.foldStream(w, k.Host)
			k = DownloadKey{Host: OtherModel}
		}
		if g = st.downloads[k]; g == nil {
			k = DownloadKey{w.intern(k.Host), w.intern(k.URL)}
			g = &downloadGroup{}
			st.downloads[k] = g
			a.groups++
		}
	}
	g.downloads++
	if v.Error != "" {
		g.errors++
	}
	g.bytes = addSat(g.bytes, v.SizeBytes)
	g.durationUs = addSat(g.durationUs, v.DurationUs)
	g.bins.add(usToMs(v.DurationUs))
}

// AddSetupRun keeps a setup run's row in its window. Rows are not
// aggregated, so no cap folds them; they count toward the group caps, so
// that other keys fold sooner when many runs are held.
func (a *Aggregator) AddSetupRun(v *wire.SetupRun, ts int64) {
	w := a.window(ts)
	st := w.streamsOf()
	st.setupRuns = append(st.setupRuns, setupRun{
		instanceID:    strings.Clone(v.InstanceID),
		deploymentKey: w.intern(v.DeploymentKey),
		logs:          strings.Clone(v.Logs),
		status:        v.Status,
		scheduled:     v.ScheduledAtNs,
		started:       v.StartedAtNs,
		completed:     v.CompletedAtNs,
		logsDropped:   v.LogsDroppedBytes,
	})
	a.groups++
}

// AddPresence keeps a closed presence's lifecycle row in the window of
// event time ts. Like setup runs, presences are rows and never fold.
func (a *Aggregator) AddPresence(p Presence, ts int64) {
	w := a.window(ts)
	st := w.streamsOf()
	p.ModelID, p.Endpoint, p.Hostname = w.intern(p.ModelID), w.intern(p.Endpoint), w.intern(p.Hostname)
	st.presences = append(st.presences, p)
	a.groups++
}

// addSat adds v to a sum, saturating at the largest int64 rather than
// wrapping: only a hostile report can get there, and a wrapped sum would
// turn a total negative.
func addSat(sum int64, v uint64) int64 {
	if v > uint64(1<<63-1-sum) {
		return 1<<63 - 1
	}
	return sum + int64(v)
}

// StateRows returns the window's instance_state rows.
func (w *Window) StateRows(width time.Duration) []table.InstanceStateRow {
	if w.st == nil {
		return nil
	}
	rows := make([]table.InstanceStateRow, 0, len(w.st.state))
	for k, g := range w.st.state {
		rows = append(rows, table.InstanceStateRow{
			WindowStart: time.Unix(0, w.Start).UTC(), WindowSeconds: int32(width / time.Second),
			DeploymentKey: k.DeploymentKey, Hardware: k.Hardware, ComputeUnit: k.ComputeUnit, Version: k.Version,
			Reports: g.reports, Instances: int64(len(g.instances)),
			ActiveNs: g.active, BootNs: g.boot, IdleNs: g.idle, DurationNs: g.duration, ConcurrencyNs: g.concurrency,
		})
	}
	return rows
}

// PredictionRows returns the window's predictions rows.
func (w *Window) PredictionRows(width time.Duration) []table.PredictionRow {
	if w.st == nil {
		return nil
	}
	rows := make([]table.PredictionRow, 0, len(w.st.predictions))
	for k, g := range w.st.predictions {
		r := table.PredictionRow{
			WindowStart: time.Unix(0, w.Start).UTC(), WindowSeconds: int32(width / time.Second),
			DeploymentKey: k.DeploymentKey, Version: k.Version, Status: k.Status.String(), ErrorCode: k.ErrorCode,
			Predictions: g.predictions, Succeeded: g.succeeded, Failed: g.failed, Canceled: g.canceled, Aborted: g.aborted,
			InputTokens: g.inputTokens, OutputTokens: g.outputTokens, Images: g.images,
			Started: g.started, PredictTimeNs: g.predictNs,
		}
		fillSketch(&g.bins, float64(g.predictNs)/1e6, g.started,
			&r.PredictTimeMsP50, &r.PredictTimeMsP90, &r.PredictTimeMsP99, &r.PredictTimeMsMean, &r.PredictTimeMsSketch)
		rows = append(rows, r)
	}
	return rows
}

// DownloadRows returns the window's downloads rows.
func (w *Window) DownloadRows(width time.Duration) []table.DownloadRow {
	if w.st == nil {
		return nil
	}
	rows := make([]table.DownloadRow, 0, len(w.st.downloads))
	for k, g := range w.st.downloads {
		r := table.DownloadRow{
			WindowStart: time.Unix(0, w.Start).UTC(), WindowSeconds: int32(width / time.Second),
			Host: k.Host, URL: k.URL,
			Downloads: g.downloads, Errors: g.errors, Bytes: g.bytes, DurationUs: g.durationUs,
		}
		fillSketch(&g.bins, float64(g.durationUs)/1e3, g.downloads,
			&r.DurationMsP50, &r.DurationMsP90, &r.DurationMsP99, &r.DurationMsMean, &r.DurationMsSketch)
		rows = append(rows, r)
	}
	return rows
}

// SetupRunRows returns the window's setup runs, one row each.
func (w *Window) SetupRunRows(width time.Duration) []table.SetupRunRow {
	if w.st == nil {
		return nil
	}
	rows := make([]table.SetupRunRow, 0, len(w.st.setupRuns))
	for _, s := range w.st.setupRuns {
		rows = append(rows, table.SetupRunRow{
			WindowStart: time.Unix(0, w.Start).UTC(), WindowSeconds: int32(width / time.Second),
			InstanceID: s.instanceID, DeploymentKey: s.deploymentKey, Status: s.status.String(),
			ScheduledAt: instant(s.scheduled), StartedAt: instant(s.started), CompletedAt: instant(s.completed),
			ScheduledToStartedMs: spanMs(s.scheduled, s.started),
			ScheduledToReadyMs:   spanMs(s.scheduled, s.completed),
			DurationMs:           spanMs(s.started, s.completed),
			LogsBytes:            int64(len(s.logs)), LogsDroppedBytes: addSat(0, s.logsDropped), Logs: s.logs,
		})
	}
	return rows
}

// PresenceRows returns the presences that ended in the window.
func (w *Window) PresenceRows(time.Duration) []table.LifecycleRow {
	if w.st == nil {
		return nil
	}
	rows := make([]table.LifecycleRow, 0, len(w.st.presences))
	for _, p := range w.st.presences {
		rows = append(rows, p.Row())
	}
	return rows
}

// Row is the presence as a lifecycle row.
func (p Presence) Row() table.LifecycleRow {
	r := table.LifecycleRow{ModelID: p.ModelID, Endpoint: p.Endpoint, Hostname: p.Hostname, Begin: time.Unix(0, p.Begin).UTC(),
		Superseded: p.Superseded}
	if p.End != 0 {
		end := time.Unix(0, p.End).UTC()
		r.End = &end
	}
	return r
}

// instant is a wire time as a row time. 0 (unknown) stays the Unix epoch:
// Go's zero time overflows the Parquet microsecond timestamp (it reads
// back as 1754), so the epoch is what a missing time is in the files.
func instant(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// spanMs is to minus from in milliseconds, or 0 when either is unknown.
func spanMs(from, to int64) float64 {
	if from == 0 || to == 0 {
		return 0
	}
	return float64(to-from) / 1e6
}

// fillSketch writes a row's own quantiles and mean of one duration, and
// its sketch for merging (see fill).
func fillSketch(b *bins, sumMs float64, n int64, p50, p90, p99, mean *float64, enc *[]byte) {
	if n == 0 {
		return
	}
	*mean = sumMs / float64(n)
	dd := b.ddsketch()
	if q, err := dd.GetValuesAtQuantiles([]float64{0.5, 0.9, 0.99}); err == nil {
		*p50, *p90, *p99 = q[0], q[1], q[2]
	}
	dd.Encode(enc, false)
}
