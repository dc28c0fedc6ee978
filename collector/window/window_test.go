package window

import (
	"testing"
	"time"

	"github.com/readout-dev/readout/wire"
)

func inf(model string, account uint64, errCode uint32) *wire.Inference {
	return &wire.Inference{ModelID: model, AccountID: account, ErrorCode: errCode, ColoID: 1, Backend: "vllm",
		RequestSource: wire.SourceWorker, RequestTimeUs: 2000, Neurons: 1.5, InputTokens: 3}
}

// TestCaps: past MaxGroups keys fold into a per-model overflow key, past
// MaxModels models fold into OtherModel; per-model requests and errors stay
// exact either way.
func TestCaps(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 4, MaxModels: 2})
	folded := 0
	a.OnOverflow = func(int64, string) { folded++ }
	type add struct {
		model   string
		account uint64
		err     uint32
	}
	adds := []add{{"a", 1, 0}, {"a", 2, 0}, {"b", 1, 0}, {"b", 2, 5}, // four real keys
		{"a", 3, 7}, {"a", 4, 0}, {"b", 3, 0}, // fold into (a, overflow) and (b, overflow)
		{"c", 1, 9}, {"d", 1, 0}, // third and fourth models: __other__
		{"a", 1, 0}} // an existing key still lands on itself
	for _, x := range adds {
		a.Add(inf(x.model, x.account, x.err), int64(time.Hour), 1.5)
	}
	if folded != 5 {
		t.Fatalf("unexpected overflowed count; got %d; want 5", folded)
	}
	ws := a.Closable(0, 0, true)
	if len(ws) != 1 {
		t.Fatalf("got %d windows; want 1", len(ws))
	}
	type agg struct{ requests, errors int64 }
	byModel := map[string]agg{}
	overflowRows := 0
	for _, r := range ws[0].Rows(time.Minute) {
		m := byModel[r.ModelID]
		m.requests += r.Requests
		m.errors += r.Errors
		byModel[r.ModelID] = m
		if r.RequestSource == "" {
			overflowRows++
			if r.AccountID != 0 || r.ColoID != 0 || r.ErrorCode != 0 || r.Backend != "" {
				t.Errorf("overflow row keeps dimensions: %+v", r)
			}
		}
	}
	want := map[string]agg{"a": {5, 1}, "b": {3, 1}, OtherModel: {2, 1}}
	for m, w := range want {
		if byModel[m] != w {
			t.Errorf("model %s: got %+v; want %+v", m, byModel[m], w)
		}
	}
	if overflowRows != 3 {
		t.Errorf("got %d overflow rows; want 3", overflowRows)
	}
}

func TestStartAndClosable(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10})
	cases := []struct{ ts, want int64 }{
		{0, 0}, {int64(59 * time.Second), 0}, {int64(time.Minute), int64(time.Minute)},
		{-1, -int64(time.Minute)}, {-int64(time.Minute), -int64(time.Minute)},
	}
	for _, c := range cases {
		if got := a.Start(c.ts); got != c.want {
			t.Errorf("Start(%d): got %d; want %d", c.ts, got, c.want)
		}
	}
	a.Add(inf("m", 1, 0), int64(10*time.Minute), 1)
	a.Add(inf("m", 1, 0), int64(12*time.Minute), 1)
	// The 10-minute window ends at 11m; with 2m lateness it closes at 13m.
	if n := len(a.Closable(int64(13*time.Minute)-1, 2*time.Minute, false)); n != 0 {
		t.Fatalf("closable before end+lateness: %d", n)
	}
	ws := a.Closable(int64(13*time.Minute), 2*time.Minute, false)
	if len(ws) != 1 || ws[0].Start != int64(10*time.Minute) {
		t.Fatalf("closable at end+lateness: %v", ws)
	}
	a.Remove(ws[0])
	if a.Windows() != 1 || a.Groups() != 1 {
		t.Fatalf("after remove: %d windows, %d groups", a.Windows(), a.Groups())
	}
}

func TestRowsColumns(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10})
	for i := 1; i <= 100; i++ {
		v := inf("m", 1, 0)
		v.RequestTimeUs = uint64(i * 1000)
		v.Streamed = i%2 == 0
		v.TimeToFirstTokenUs = 500
		v.LocalQueueSize = uint32(i)
		a.Add(v, 0, 1)
	}
	rows := a.Closable(0, 0, true)[0].Rows(time.Minute)
	r := rows[0]
	if r.Requests != 100 || r.Streamed != 50 || r.LocalQueueSizeMax != 100 || r.LocalQueueSizeSum != 5050 {
		t.Fatalf("counters: %+v", r)
	}
	if r.RequestTimeMsMean != 50.5 || r.TTFTMsMean != 0.5 || r.TTFTMsSum != 25 {
		t.Fatalf("means: request %v ttft %v (sum %v)", r.RequestTimeMsMean, r.TTFTMsMean, r.TTFTMsSum)
	}
	if d := r.RequestTimeMsP50 / 50; d < 0.98 || d > 1.03 {
		t.Fatalf("p50 %v not near 50", r.RequestTimeMsP50)
	}
	if r.RequestSource != "worker" || r.WindowSeconds != 60 || len(r.RequestTimeMsSketch) == 0 {
		t.Fatalf("row: source %q seconds %d sketch %d bytes", r.RequestSource, r.WindowSeconds, len(r.RequestTimeMsSketch))
	}
}

// TestInternCopies: keys must not alias the decoded event's buffer, which
// the collector reuses.
func TestInternCopies(t *testing.T) {
	a := New(Config{Width: time.Minute, MaxGroups: 10, MaxModels: 10})
	buf := []byte("model-x")
	v := inf(string(buf), 1, 0)
	v.ModelID = unsafeString(buf)
	a.Add(v, 0, 1)
	copy(buf, "XXXXXXX")
	if got := a.Closable(0, 0, true)[0].Rows(time.Minute)[0].ModelID; got != "model-x" {
		t.Fatalf("key aliases the event buffer: %q", got)
	}
}

func TestSanitizeNeurons(t *testing.T) {
	for _, c := range []struct {
		in, want float64
		fixed    bool
	}{{1.5, 1.5, false}, {0, 0, false}, {-1, 0, true}} {
		got, fixed := SanitizeNeurons(c.in)
		if got != c.want || fixed != c.fixed {
			t.Errorf("SanitizeNeurons(%v) = %v, %v", c.in, got, fixed)
		}
	}
}
