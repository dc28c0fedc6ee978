package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
)

// event is one raw inference event of a generated dataset: the truth the
// tests compute expected answers from, independently of the package.
type event struct {
	ws                        time.Time
	model, source, backend    string
	account                   uint64
	colo, errorCode           uint32
	durations                 [numDurations]float64 // ms; ttft only when streamed
	streamed                  bool
	neurons                   float64
	inputTokens, outputTokens int64
}

var (
	testModels   = []string{"@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-base-en-v1.5", "@cf/openai/whisper"}
	testAccounts = []uint64{100, 101, 1<<63 + 5}
	testSources  = []string{"worker", "pages", "restApi"}
	testBackends = []string{"vllm", "tgi", ""}
)

// genEvents makes n events in one-minute windows spread over the four hours
// from 2026-11-27T22:00Z, so they cross a date boundary.
func genEvents(seed uint64, n int) []event {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	base := time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
	evs := make([]event, n)
	for i := range evs {
		e := &evs[i]
		e.ws = base.Add(time.Duration(rng.IntN(4*60)) * time.Minute)
		e.model = testModels[rng.IntN(len(testModels))]
		e.account = testAccounts[rng.IntN(len(testAccounts))]
		e.colo = uint32(7 + rng.IntN(2))
		e.source = testSources[rng.IntN(len(testSources))]
		if rng.IntN(10) == 0 {
			e.errorCode = 3040
		}
		e.backend = testBackends[rng.IntN(len(testBackends))]
		e.streamed = rng.IntN(2) == 0
		// Log-normal-ish durations over several decades, as latencies are.
		for d := range numDurations {
			e.durations[d] = math.Exp(rng.NormFloat64()*1.5 + 4)
		}
		if !e.streamed {
			e.durations[numDurations-1] = 0
		}
		e.neurons = float64(rng.IntN(1000)) / 64
		e.inputTokens = int64(rng.IntN(500))
		if e.streamed {
			e.outputTokens = int64(rng.IntN(300))
		}
	}
	return evs
}

// writeDataset aggregates evs the way a collector would, but split each
// (window, key) group into up to maxParts partial rows scattered over
// filesPerPartition files of the window's partition (several rows of one key
// may land in one file), and returns the number of rows written.
func writeDataset(t testing.TB, out string, evs []event, maxParts, filesPerPartition int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	type fullKey struct {
		ws                     int64
		model, source, backend string
		account                uint64
		colo, errorCode        uint32
	}
	groups := make(map[fullKey][]event)
	var order []fullKey
	for _, e := range evs {
		k := fullKey{e.ws.UnixMilli(), e.model, e.source, e.backend, e.account, e.colo, e.errorCode}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	files := make(map[string][]table.InferenceRow)
	rows := 0
	for _, k := range order {
		g := groups[k]
		parts := 1 + rng.IntN(maxParts)
		for p := range parts {
			var share []event
			for i := p; i < len(g); i += parts {
				share = append(share, g[i])
			}
			if len(share) == 0 {
				continue
			}
			path := filepath.Join(table.PartitionDir(out, share[0].ws), fmt.Sprintf("part-%d.parquet", rng.IntN(filesPerPartition)))
			files[path] = append(files[path], partialRow(share))
			rows++
		}
	}
	for path, rs := range files {
		if err := table.WriteInference(path, rs); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// partialRow is the aggregate row of evs, which share a window and key.
func partialRow(evs []event) table.InferenceRow {
	e0 := evs[0]
	r := table.InferenceRow{
		WindowStart: e0.ws, WindowSeconds: 60, ModelID: e0.model, AccountID: e0.account, ColoID: e0.colo,
		RequestSource: e0.source, ErrorCode: e0.errorCode, Backend: e0.backend,
	}
	var sk [numDurations]*sketch.Sketch
	var sums [numDurations]float64
	for d := range numDurations {
		sk[d] = sketch.New()
	}
	for _, e := range evs {
		r.Requests++
		if e.errorCode != 0 {
			r.Errors++
		}
		if e.streamed {
			r.Streamed++
		}
		r.Neurons += e.neurons
		r.InputTokens += e.inputTokens
		r.OutputTokens += e.outputTokens
		for d := range numDurations {
			if d == numDurations-1 && !e.streamed {
				continue
			}
			sk[d].Add(e.durations[d])
			sums[d] += e.durations[d]
		}
	}
	enc := func(d int) []byte {
		if sk[d].Count() == 0 {
			return nil
		}
		return sk[d].AppendBinary(nil)
	}
	r.RequestTimeMsSum, r.RequestTimeMsSketch = sums[0], enc(0)
	r.InferenceTimeMsSum, r.InferenceTimeMsSketch = sums[1], enc(1)
	r.QueuingTimeMsSum, r.QueuingTimeMsSketch = sums[2], enc(2)
	r.TTFTMsSum, r.TTFTMsSketch = sums[3], enc(3)
	// The per-row convenience columns: what a reader without readout sees.
	r.RequestTimeMsP50, r.RequestTimeMsP90, r.RequestTimeMsP99 = sk[0].Quantile(0.5), sk[0].Quantile(0.9), sk[0].Quantile(0.99)
	r.RequestTimeMsMean = sums[0] / float64(r.Requests)
	return r
}

// expected is what a query must answer for one group, computed from raw
// events.
type expected struct {
	requests, errors, streamed, inputTokens, outputTokens int64
	neurons                                               float64
	values                                                [numDurations][]float64
}

// expect groups evs by bucket and dims, within [from, to).
func expect(evs []event, groupBy []string, bucket time.Duration, from, to time.Time) map[string]*expected {
	out := make(map[string]*expected)
	for _, e := range evs {
		if (!from.IsZero() && e.ws.Before(from)) || (!to.IsZero() && !e.ws.Before(to)) {
			continue
		}
		var ts time.Time
		if bucket > 0 {
			ts = e.ws.Truncate(bucket)
		}
		k := testKey(ts, groupBy, e.model, e.account, e.colo, e.source, e.errorCode, e.backend)
		x := out[k]
		if x == nil {
			x = &expected{}
			out[k] = x
		}
		x.requests++
		if e.errorCode != 0 {
			x.errors++
		}
		if e.streamed {
			x.streamed++
		}
		x.neurons += e.neurons
		x.inputTokens += e.inputTokens
		x.outputTokens += e.outputTokens
		for d := range numDurations {
			if d == numDurations-1 && !e.streamed {
				continue
			}
			x.values[d] = append(x.values[d], e.durations[d])
		}
	}
	if len(out) == 0 && len(groupBy) == 0 && bucket == 0 {
		// A total over nothing is still one row, of zeros.
		out[testKey(time.Time{}, nil, "", 0, 0, "", 0, "")] = &expected{}
	}
	return out
}

func testKey(ts time.Time, groupBy []string, model string, account uint64, colo uint32, source string, errorCode uint32, backend string) string {
	parts := []string{ts.UTC().Format(time.RFC3339)}
	for _, d := range groupBy {
		switch d {
		case "model_id":
			parts = append(parts, model)
		case "account_id":
			parts = append(parts, fmt.Sprint(account))
		case "colo_id":
			parts = append(parts, fmt.Sprint(colo))
		case "request_source":
			parts = append(parts, source)
		case "error_code":
			parts = append(parts, fmt.Sprint(errorCode))
		case "backend":
			parts = append(parts, backend)
		}
	}
	return strings.Join(parts, "|")
}

func rowKey(r *Row, groupBy []string) string {
	k := &r.Key
	return testKey(r.Time, groupBy, k.ModelID, k.AccountID, k.ColoID, k.RequestSource, k.ErrorCode, k.Backend)
}

// exactQuantile is the value a DDSketch's estimate is guaranteed to be near:
// the one at rank floor(q*(n-1)) of the sorted values.
func exactQuantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func closeRel(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-12)
}
