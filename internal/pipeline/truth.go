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

	"github.com/readout-dev/readout/internal/truth"
)

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
// into the truth file's Totals keyed by model (Streamed is not read).
func TotalsByModel(rows []map[string]any) (map[string]truth.Totals, error) {
	got := make(map[string]truth.Totals, len(rows))
	for _, r := range rows {
		m, _ := r["model_id"].(string)
		var t truth.Totals
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
func CompareTotals(want, got map[string]truth.Totals) error {
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

func intField(r map[string]any, k string) (uint64, error) {
	v, ok := r[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("row lacks numeric %q: %v", k, r)
	}
	if i, err := strconv.ParseUint(string(v), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err == nil && f < 0 {
		return 0, fmt.Errorf("row has negative %q: %v", k, r)
	}
	return uint64(f), err
}

func floatField(r map[string]any, k string) (float64, error) {
	v, ok := r[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("row lacks numeric %q: %v", k, r)
	}
	return v.Float64()
}
