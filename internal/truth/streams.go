package truth

import "github.com/readout-dev/readout/wire"

// Streams is what a simulated fleet of model instances sent on the stream
// tables, per deployment (downloads: per host), summed from the very
// events the emitters accepted. Times are integer nanoseconds or
// microseconds, so that a check against the tables is exact.
type Streams struct {
	InstanceState map[string]InstanceState `json:"instance_state"`
	Predictions   map[string]Predictions   `json:"predictions"`
	SetupRuns     map[string]SetupRuns     `json:"setup_runs"`
	Downloads     map[string]Downloads     `json:"downloads"`
}

// InstanceState sums instance-state reports.
type InstanceState struct {
	Reports       int64 `json:"reports"`
	ActiveNs      int64 `json:"active_ns"`
	BootNs        int64 `json:"boot_ns"`
	IdleNs        int64 `json:"idle_ns"`
	DurationNs    int64 `json:"duration_ns"`
	ConcurrencyNs int64 `json:"concurrency_ns"`
}

// Predictions sums prediction reports.
type Predictions struct {
	Predictions  int64 `json:"predictions"`
	Succeeded    int64 `json:"succeeded"`
	Failed       int64 `json:"failed"`
	Canceled     int64 `json:"canceled"`
	Aborted      int64 `json:"aborted"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	Images       int64 `json:"images"`
}

// SetupRuns counts setup runs by status.
type SetupRuns struct {
	Runs     int64            `json:"runs"`
	ByStatus map[string]int64 `json:"by_status"`
}

// Downloads sums download reports.
type Downloads struct {
	Downloads  int64 `json:"downloads"`
	Errors     int64 `json:"errors"`
	Bytes      int64 `json:"bytes"`
	DurationUs int64 `json:"duration_us"`
}

// NewStreams is an empty Streams.
func NewStreams() *Streams {
	return &Streams{
		InstanceState: map[string]InstanceState{},
		Predictions:   map[string]Predictions{},
		SetupRuns:     map[string]SetupRuns{},
		Downloads:     map[string]Downloads{},
	}
}

// Add counts one sent event; inference and other kinds are ignored.
func (s *Streams) Add(ev *wire.Event) {
	switch ev.Kind {
	case wire.KindInstanceState:
		v := &ev.InstanceState
		t := s.InstanceState[v.DeploymentKey]
		t.Reports++
		t.ActiveNs += int64(v.ActiveNs)
		t.BootNs += int64(v.BootNs)
		t.IdleNs += int64(v.IdleNs)
		t.DurationNs += v.IntervalEndNs - v.IntervalStartNs
		t.ConcurrencyNs += int64(v.ConcurrencyNs)
		s.InstanceState[v.DeploymentKey] = t
	case wire.KindPrediction:
		v := &ev.Prediction
		t := s.Predictions[v.DeploymentKey]
		t.Predictions++
		switch v.Status {
		case wire.PredictionSucceeded:
			t.Succeeded++
		case wire.PredictionFailed:
			t.Failed++
		case wire.PredictionCanceled:
			t.Canceled++
		case wire.PredictionAborted:
			t.Aborted++
		}
		t.InputTokens += int64(v.InputTokens)
		t.OutputTokens += int64(v.OutputTokens)
		t.Images += int64(v.ImageCount)
		s.Predictions[v.DeploymentKey] = t
	case wire.KindSetupRun:
		v := &ev.SetupRun
		t := s.SetupRuns[v.DeploymentKey]
		if t.ByStatus == nil {
			t.ByStatus = map[string]int64{}
		}
		t.Runs++
		t.ByStatus[v.Status.String()]++
		s.SetupRuns[v.DeploymentKey] = t
	case wire.KindDownload:
		v := &ev.Download
		t := s.Downloads[v.Host]
		t.Downloads++
		if v.Error != "" {
			t.Errors++
		}
		t.Bytes += int64(v.SizeBytes)
		t.DurationUs += int64(v.DurationUs)
		s.Downloads[v.Host] = t
	}
}

// Merge adds o into s.
func (s *Streams) Merge(o *Streams) {
	for k, v := range o.InstanceState {
		t := s.InstanceState[k]
		t.Reports += v.Reports
		t.ActiveNs += v.ActiveNs
		t.BootNs += v.BootNs
		t.IdleNs += v.IdleNs
		t.DurationNs += v.DurationNs
		t.ConcurrencyNs += v.ConcurrencyNs
		s.InstanceState[k] = t
	}
	for k, v := range o.Predictions {
		t := s.Predictions[k]
		t.Predictions += v.Predictions
		t.Succeeded += v.Succeeded
		t.Failed += v.Failed
		t.Canceled += v.Canceled
		t.Aborted += v.Aborted
		t.InputTokens += v.InputTokens
		t.OutputTokens += v.OutputTokens
		t.Images += v.Images
		s.Predictions[k] = t
	}
	for k, v := range o.SetupRuns {
		t := s.SetupRuns[k]
		if t.ByStatus == nil {
			t.ByStatus = map[string]int64{}
		}
		t.Runs += v.Runs
		for st, n := range v.ByStatus {
			t.ByStatus[st] += n
		}
		s.SetupRuns[k] = t
	}
	for k, v := range o.Downloads {
		t := s.Downloads[k]
		t.Downloads += v.Downloads
		t.Errors += v.Errors
		t.Bytes += v.Bytes
		t.DurationUs += v.DurationUs
		s.Downloads[k] = t
	}
}
