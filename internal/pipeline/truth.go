package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/readout-dev/readout/emitter"
)

// Totals are the additive measures loadgen's truth file and `readout query`
// both report.
type Totals struct {
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	Neurons      float64 `json:"neurons"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
}

// Truth is loadgen's --truth file: what its emitters report as sent.
type Truth struct {
	Events   int               `json:"events"`
	Total    Totals            `json:"total"`
	ByModel  map[string]Totals `json:"by_model"`
	Emitter  StatsSum          `json:"emitter"`
	Emitters []emitter.Stats   `json:"emitters"`
}

// StatsSum is the truth's "emitter" object: the fleet's stats added up.
type StatsSum struct {
	Emitters        int                `json:"emitters"`
	Emitted         uint64             `json:"emitted"`
	Sent            uint64             `json:"sent"`
	Dropped         uint64             `json:"dropped"`
	Queued          uint64             `json:"queued"`
	DroppedByReason emitter.DropCounts `json:"dropped_by_reason"`
	Replayed        uint64             `json:"replayed"`
	ConnectErrors   uint64             `json:"connect_errors"`
	ClosedAcked     int                `json:"closed_acked"`
}

// ReadTruth parses a truth file.
func ReadTruth(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse truth %s: %w", path, err)
	}
	return &t, nil
}

// Loadgen runs loadgen against the pipeline's socket with extra args and
// waits for it. Its stderr (progress lines) goes to stderr when given.
func (p *Pipeline) Loadgen(ctx context.Context, stderr *os.File, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.Bin, "loadgen"), append([]string{"--socket", p.Socket}, args...)...)
	if stderr != nil {
		cmd.Stderr = stderr
	} else {
		f, err := os.OpenFile(filepath.Join(p.Dir, "loadgen.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	return nil
}

// TotalsByModel turns `readout query --group-by model_id --format json` rows
// into Totals keyed by model.
func TotalsByModel(rows []map[string]any) (map[string]Totals, error) {
	got := make(map[string]Totals, len(rows))
	for _, r := range rows {
		m, _ := r["model_id"].(string)
		var t Totals
		var err error
		if t.Requests, err = intField(r, "requests"); err != nil {
			return nil, err
		}
		if t.Errors, err = intField(r, "errors"); err != nil {
			return nil, err
		}
		if t.InputTokens, err = intField(r, "input_tokens"); err != nil {
			return nil, err
		}
		if t.OutputTokens, err = intField(r, "output_tokens"); err != nil {
			return nil, err
		}
		if t.Neurons, err = floatField(r, "neurons"); err != nil {
			return nil, err
		}
		got[m] = t
	}
	return got, nil
}

// CompareTotals checks got against want exactly for counts and to a relative
// 1e-9 for neurons, whose float sums depend on the order of addition.
func CompareTotals(want, got map[string]Totals) error {
	models := make([]string, 0, len(want))
	for m := range want {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		w, g := want[m], got[m]
		if w.Requests != g.Requests || w.Errors != g.Errors || w.InputTokens != g.InputTokens || w.OutputTokens != g.OutputTokens {
			return fmt.Errorf("model %q: got %+v; want %+v", m, g, w)
		}
		if math.Abs(w.Neurons-g.Neurons) > 1e-9*math.Max(1, math.Abs(w.Neurons)) {
			return fmt.Errorf("model %q: neurons got %v; want %v", m, g.Neurons, w.Neurons)
		}
	}
	for m := range got {
		if _, ok := want[m]; !ok {
			return fmt.Errorf("model %q is in the output but not in the truth: %+v", m, got[m])
		}
	}
	return nil
}

func intField(r map[string]any, k string) (int64, error) {
	v, ok := r[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("row lacks numeric %q: %v", k, r)
	}
	if i, err := v.Int64(); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return int64(f), err
}

func floatField(r map[string]any, k string) (float64, error) {
	v, ok := r[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("row lacks numeric %q: %v", k, r)
	}
	return v.Float64()
}
