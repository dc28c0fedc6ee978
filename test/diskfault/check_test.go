package diskfault

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

func newPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(binDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.KillAll()
		if t.Failed() {
			for _, proc := range []*pipeline.Process{p.Forwarder, p.Collector} {
				if proc != nil {
					t.Logf("%s log tail:\n%s", proc.Name, proc.Tail(3000))
				}
			}
		}
	})
	return p
}

// waitMetric polls a daemon's metric until ok accepts its value, and fails
// the test after timeout. It returns the accepted value.
func waitMetric(t *testing.T, addr, name string, timeout time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last float64
	for {
		v, found := pipeline.Metric(addr, name)
		if found && ok(v) {
			return v
		}
		last = v
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach the wanted value within %s; last %v (found %v)", name, timeout, last, found)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	v, ok := pipeline.Metric(addr, name)
	if !ok {
		t.Fatalf("metric %s not found at %s", name, addr)
	}
	return v
}

func positive(v float64) bool { return v > 0 }

// logLine is one JSON log line of a daemon, with its raw text.
type logLine struct {
	fields map[string]any
	raw    string
}

func (l logLine) level() string { s, _ := l.fields["level"].(string); return s }

// readLog parses a daemon's JSON log; lines that are not JSON (a panic
// trace, say) are kept with no fields.
func readLog(t *testing.T, path string) []logLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		l := logLine{raw: sc.Text()}
		_ = json.Unmarshal(sc.Bytes(), &l.fields)
		out = append(out, l)
	}
	return out
}

// faultLines returns the warn and error lines of log whose text contains
// every one of subs (case-insensitive).
func faultLines(t *testing.T, path string, subs ...string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range readLog(t, path) {
		if lv := l.level(); lv != "warn" && lv != "error" {
			continue
		}
		raw := strings.ToLower(l.raw)
		all := true
		for _, s := range subs {
			all = all && strings.Contains(raw, strings.ToLower(s))
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

var (
	fileRe   = regexp.MustCompile(`[0-9]+\.(seg|wal)|\.parquet|"(segment|file|path)":"[^"]+"`)
	offsetRe = regexp.MustCompile(`"offset":[0-9]+|offset [0-9]+`)
)

// checkLoggedOnce wants exactly one warn/error line matching subs, naming
// the file and, when withOffset, the offset of the fault (a file that could
// not be created has none).
func checkLoggedOnce(t *testing.T, path string, withOffset bool, subs ...string) {
	t.Helper()
	lines := faultLines(t, path, subs...)
	switch {
	case len(lines) == 0:
		t.Fatalf("no warn/error log line mentions %q in %s", subs, path)
	case len(lines) > 1:
		t.Errorf("the fault was logged %d times; want once. First: %s; last: %s", len(lines), lines[0].raw, lines[len(lines)-1].raw)
	}
	l := lines[0]
	if !fileRe.MatchString(l.raw) {
		t.Errorf("the log line does not name the file: %s", l.raw)
	}
	if withOffset && !offsetRe.MatchString(l.raw) {
		t.Errorf("the log line does not give the offset: %s", l.raw)
	}
}

// truthFile is loadgen's --truth file with the emitters' drops and ids at
// hand.
type truthFile struct {
	*truth.File
	Drops    uint64
	Emitters []string
}

func readTruth(t *testing.T, path string) truthFile {
	t.Helper()
	tr, err := truth.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	out := truthFile{File: tr, Drops: tr.Emitter.Dropped}
	for _, e := range tr.Emitters {
		out.Emitters = append(out.Emitters, e.EmitterID.String())
	}
	return out
}

// auditRow is one emitter of `readout audit`.
type auditRow struct {
	sent, received, dropped, unexplained int64
	closed                               bool
	raw                                  map[string]any
}

func audit(t *testing.T, ctx context.Context, p *pipeline.Pipeline) map[string]auditRow {
	t.Helper()
	rows, err := p.AuditJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]auditRow{}
	for _, r := range rows {
		num := func(k string) int64 {
			n, _ := r[k].(json.Number).Int64()
			return n
		}
		id, _ := r["emitter_id"].(string)
		closed, _ := r["closed"].(bool)
		out[id] = auditRow{sent: num("sent"), received: num("received"), dropped: num("dropped"),
			unexplained: num("unexplained"), closed: closed, raw: r}
	}
	return out
}

// checkClean wants every emitter of the truths in the audit, closed, with
// every gap explained by a reported drop.
func checkClean(t *testing.T, rows map[string]auditRow, truths ...truthFile) {
	t.Helper()
	for _, tr := range truths {
		for _, id := range tr.Emitters {
			r, ok := rows[id]
			switch {
			case !ok:
				t.Errorf("emitter %s is not in the audit", id)
			case r.unexplained != 0:
				t.Errorf("emitter %s: %d unexplained events: %v", id, r.unexplained, r.raw)
			case !r.closed:
				t.Errorf("emitter %s did not close cleanly: %v", id, r.raw)
			}
		}
	}
}

// checkTotals wants the query totals per model to equal the sum of the
// truths exactly.
func checkTotals(t *testing.T, ctx context.Context, p *pipeline.Pipeline, truths ...truthFile) {
	t.Helper()
	want := map[string]truth.Totals{}
	for _, tr := range truths {
		for m, v := range tr.ByModel {
			w := want[m]
			w.Add(v)
			want[m] = w
		}
	}
	got := queryTotals(t, ctx, p)
	if err := pipeline.CompareTotals(want, got); err != nil {
		t.Fatalf("query totals differ from loadgen's truth: %v", err)
	}
}

func queryTotals(t *testing.T, ctx context.Context, p *pipeline.Pipeline) map[string]truth.Totals {
	t.Helper()
	rows, err := p.QueryJSON(ctx, "--group-by", "model_id")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pipeline.TotalsByModel(rows)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// loadgen starts loadgen in the background; the channel yields its result.
func loadgen(ctx context.Context, p *pipeline.Pipeline, args ...string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Loadgen(ctx, nil, args...) }()
	return done
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// alive fails the test if a daemon has exited.
func alive(t *testing.T, procs ...*pipeline.Process) {
	t.Helper()
	for _, pr := range procs {
		if !pr.Alive() {
			t.Fatalf("%s exited; log tail:\n%s", pr.Name, pr.Tail(2000))
		}
	}
}

// knownBug skips the rest of a (sub)test that fails because of a reported,
// not yet fixed bug, unless DISKFAULT_STRICT is set: then it runs, to check
// a fix.
func knownBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("DISKFAULT_STRICT") == "" {
		t.Skip("known bug (set DISKFAULT_STRICT=1 to run): " + bug)
	}
}
