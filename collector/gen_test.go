package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/readout-dev/readout/internal/atomicfile"
	"github.com/readout-dev/readout/sketch"
	"github.com/readout-dev/readout/table"
	"github.com/readout-dev/readout/wire"
)

// testBase is an hour boundary; generated event times start there.
var testBase = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// totals is the independently computed truth for one (window, model).
type totals struct {
	Requests, Errors, Streamed, InputTokens, OutputTokens, QueueSum, QueueMax int64
	Neurons                                                                   float64
	Sums                                                                      [4]float64
}

func (t *totals) add(v *wire.Inference) {
	t.Requests++
	if v.ErrorCode != 0 {
		t.Errors++
	}
	if v.Streamed {
		t.Streamed++
		t.Sums[3] += float64(v.TimeToFirstTokenUs) / 1000
	}
	t.Neurons += v.Neurons
	t.InputTokens += int64(v.InputTokens)
	t.OutputTokens += int64(v.OutputTokens)
	t.QueueSum += int64(v.LocalQueueSize)
	t.QueueMax = max(t.QueueMax, int64(v.LocalQueueSize))
	t.Sums[0] += float64(v.RequestTimeUs) / 1000
	t.Sums[1] += float64(v.InferenceTimeUs) / 1000
	t.Sums[2] += float64(v.QueuingTimeUs) / 1000
}

type wmKey struct {
	window time.Time
	model  string
}

// truth accumulates what the files must say, from the events counted once.
type truth struct {
	byWM   map[wmKey]*totals
	values map[time.Time][]float64 // request_time_ms per window
	seen   map[seqKey]bool
	audit  map[[16]byte]*table.AuditRow
}

func newTruth() *truth {
	return &truth{byWM: map[wmKey]*totals{}, values: map[time.Time][]float64{}, seen: map[seqKey]bool{}, audit: map[[16]byte]*table.AuditRow{}}
}

// deliver records one delivery of ev in arrival order, as the collector
// must see it.
func (tr *truth) deliver(ev *wire.Event) {
	if !ev.Anonymous() {
		a := tr.audit[ev.EmitterID]
		if a == nil {
			a = &table.AuditRow{}
			tr.audit[ev.EmitterID] = a
		}
		a.Dropped = max(a.Dropped, int64(ev.DroppedTotal))
		if ev.Kind == wire.KindClosed {
			a.Closed = true
			a.LastSeq = max(a.LastSeq, int64(ev.Seq))
			return
		}
		k := seqKey{ev.EmitterID, ev.Seq}
		if tr.seen[k] {
			a.Duplicates++
			return
		}
		tr.seen[k] = true
		a.Received++
		a.LastSeq = max(a.LastSeq, int64(ev.Seq))
		if a.FirstSeq == 0 || int64(ev.Seq) < a.FirstSeq {
			a.FirstSeq = int64(ev.Seq)
		}
	}
	if ev.Kind != wire.KindInference {
		return
	}
	w := time.Unix(0, ev.TimestampNs).UTC().Truncate(time.Minute)
	k := wmKey{w, ev.Inference.ModelID}
	t := tr.byWM[k]
	if t == nil {
		t = &totals{}
		tr.byWM[k] = t
	}
	t.add(&ev.Inference)
	tr.values[w] = append(tr.values[w], float64(ev.Inference.RequestTimeUs)/1000)
}

var testModels = []string{"@cf/meta/llama-3.1-8b-instruct", "@cf/openai/whisper", "@cf/baai/bge-base-en-v1.5"}

// genEvent makes a random inference event at event time ts.
func genEvent(r *rand.Rand, emitter [16]byte, seq, dropped uint64, ts time.Time) wire.Event {
	ev := wire.Event{
		TimestampNs: ts.UnixNano(), EmitterID: emitter, Seq: seq, DroppedTotal: dropped, Kind: wire.KindInference,
	}
	r.Read(ev.ID[:])
	v := &ev.Inference
	v.AccountID = uint64(r.Intn(5) + 1)
	v.ModelID = testModels[r.Intn(len(testModels))]
	v.RequestTimeUs = uint64(1000 + r.ExpFloat64()*50000)
	v.InferenceTimeUs = v.RequestTimeUs / 2
	v.QueuingTimeUs = uint64(r.Intn(3000))
	v.Neurons = math.Round(r.Float64()*1000) / 8
	if r.Intn(10) == 0 {
		v.ErrorCode = uint32(3000 + r.Intn(3))
	}
	v.ColoID = uint32(r.Intn(3) + 1)
	v.LocalQueueSize = uint32(r.Intn(10))
	v.RequestSource = wire.RequestSource(r.Intn(4))
	v.Streamed = r.Intn(2) == 0
	if v.Streamed {
		v.TimeToFirstTokenUs = uint64(100 + r.Intn(5000))
	}
	v.Backend = []string{"triton", "tgi", "vllm", ""}[r.Intn(4)]
	v.InputTokens = uint32(r.Intn(500))
	v.OutputTokens = uint32(r.Intn(800))
	return ev
}

// encodeBatch frames events into one Batch body.
func encodeBatch(t testing.TB, fwd [16]byte, seq uint64, evs []wire.Event) []byte {
	t.Helper()
	var frames []byte
	for i := range evs {
		f, err := wire.EncodeEventCapnp(&evs[i])
		if err != nil {
			t.Fatalf("encode event: %v", err)
		}
		frames = append(frames, f...)
	}
	body, err := wire.EncodeBatch(&wire.Batch{ForwarderID: fwd, BatchSeq: seq, CreatedNs: 1, EventCount: uint32(len(evs)), Events: frames})
	if err != nil {
		t.Fatalf("encode batch: %v", err)
	}
	return body
}

// testEncoder is shared: building a zstd encoder costs far more than using one.
var testEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

func zstdBytes(t testing.TB, b []byte) []byte { return testEncoder.EncodeAll(b, nil) }

// post sends a body and returns the status code.
func post(t testing.TB, url, token string, body []byte, compress bool) int {
	t.Helper()
	if compress {
		body = zstdBytes(t, body)
	}
	req, err := http.NewRequest(http.MethodPost, url+BatchPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType)
	if compress {
		req.Header.Set("Content-Encoding", "zstd")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readRows reads every committed inference file under out.
func readRows(t testing.TB, out string) ([]table.InferenceRow, []string) {
	t.Helper()
	var rows []table.InferenceRow
	var files []string
	err := filepath.WalkDir(filepath.Join(out, table.InferenceDir), func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rs, err := table.ReadInference(p)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
		files = append(files, p)
		return nil
	})
	if err != nil {
		t.Fatalf("read output: %v", err)
	}
	return rows, files
}

// checkTotals merges rows by (window, model) and compares them with tr.
func checkTotals(t testing.TB, rows []table.InferenceRow, tr *truth) {
	t.Helper()
	got := map[wmKey]*totals{}
	for i := range rows {
		r := &rows[i]
		k := wmKey{r.WindowStart.UTC(), r.ModelID}
		g := got[k]
		if g == nil {
			g = &totals{}
			got[k] = g
		}
		g.Requests += r.Requests
		g.Errors += r.Errors
		g.Streamed += r.Streamed
		g.Neurons += r.Neurons
		g.InputTokens += r.InputTokens
		g.OutputTokens += r.OutputTokens
		g.QueueSum += r.LocalQueueSizeSum
		g.QueueMax = max(g.QueueMax, r.LocalQueueSizeMax)
		g.Sums[0] += r.RequestTimeMsSum
		g.Sums[1] += r.InferenceTimeMsSum
		g.Sums[2] += r.QueuingTimeMsSum
		g.Sums[3] += r.TTFTMsSum
	}
	if len(got) != len(tr.byWM) {
		t.Errorf("unexpected (window, model) count; got %d; want %d", len(got), len(tr.byWM))
	}
	for k, want := range tr.byWM {
		g := got[k]
		if g == nil {
			t.Errorf("%v %s: no rows", k.window, k.model)
			continue
		}
		ints := [][3]any{{"requests", g.Requests, want.Requests}, {"errors", g.Errors, want.Errors},
			{"streamed", g.Streamed, want.Streamed}, {"input_tokens", g.InputTokens, want.InputTokens},
			{"output_tokens", g.OutputTokens, want.OutputTokens}, {"queue_sum", g.QueueSum, want.QueueSum},
			{"queue_max", g.QueueMax, want.QueueMax}}
		for _, c := range ints {
			if c[1] != c[2] {
				t.Errorf("%v %s: unexpected %s; got %v; want %v", k.window, k.model, c[0], c[1], c[2])
			}
		}
		if !nearlyEqual(g.Neurons, want.Neurons) {
			t.Errorf("%v %s: unexpected neurons; got %v; want %v", k.window, k.model, g.Neurons, want.Neurons)
		}
		for d := range g.Sums {
			if !nearlyEqual(g.Sums[d], want.Sums[d]) {
				t.Errorf("%v %s: unexpected %s sum; got %v; want %v", k.window, k.model, table.Durations[d], g.Sums[d], want.Sums[d])
			}
		}
	}
}

// nearlyEqual compares float sums that were added in different orders.
func nearlyEqual(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// checkQuantiles merges the request-time sketches of the given windows (all
// when none given) and compares quantiles with the exact ones.
func checkQuantiles(t testing.TB, rows []table.InferenceRow, tr *truth, windows ...time.Time) {
	t.Helper()
	in := map[time.Time]bool{}
	for _, w := range windows {
		in[w] = true
	}
	s := sketch.New()
	var vals []float64
	for w, vs := range tr.values {
		if len(windows) == 0 || in[w] {
			vals = append(vals, vs...)
		}
	}
	for i := range rows {
		if len(windows) == 0 || in[rows[i].WindowStart.UTC()] {
			if err := s.MergeBinary(rows[i].RequestTimeMsSketch); err != nil {
				t.Fatalf("merge sketch: %v", err)
			}
		}
	}
	sort.Float64s(vals)
	if int(s.Count()) != len(vals) {
		t.Fatalf("merged sketch holds %v values; want %d", s.Count(), len(vals))
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		rank := q * float64(len(vals)-1)
		lo, hi := vals[int(math.Floor(rank))], vals[int(math.Ceil(rank))]
		got := s.Quantile(q)
		if got < lo*(1-sketch.RelativeAccuracy) || got > hi*(1+sketch.RelativeAccuracy) {
			t.Errorf("p%v over %d values: got %v; want within 1%% of [%v, %v]", q*100, len(vals), got, lo, hi)
		}
	}
}

// checkAudit compares the audit snapshot with the truth.
// exactDuplicates is false after crashes: a batch made durable but not
// acknowledged is re-sent, and the collector rightly counts it a duplicate.
func checkAudit(t testing.TB, out string, tr *truth, exactDuplicates bool) {
	t.Helper()
	rows := readAuditRows(t, out)
	if len(rows) != len(tr.audit) {
		t.Errorf("got %d audit rows; want %d", len(rows), len(tr.audit))
	}
	for _, r := range rows {
		var want *table.AuditRow
		for id, a := range tr.audit {
			if fmt.Sprintf("%x", id) == strings.ReplaceAll(r.EmitterID, "-", "") {
				want = a
			}
		}
		if want == nil {
			t.Errorf("unexpected emitter %s", r.EmitterID)
			continue
		}
		if r.FirstSeq != want.FirstSeq || r.LastSeq != want.LastSeq || r.Received != want.Received ||
			r.Dropped != want.Dropped || r.Closed != want.Closed ||
			(exactDuplicates && r.Duplicates != want.Duplicates) || r.Duplicates < want.Duplicates {
			t.Errorf("emitter %s: got %+v; want %+v", r.EmitterID, r, *want)
		}
		if r.Unexplained() != 0 {
			t.Errorf("emitter %s: %d unexplained", r.EmitterID, r.Unexplained())
		}
	}
}

// partitionFile creates an empty file named name in the i-th hour partition.
func partitionFile(t testing.TB, out string, i int, name string) string {
	t.Helper()
	dir := table.PartitionDir(out, testBase.Add(time.Duration(i)*time.Hour))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAuditRows reads the collector's one audit file.
func readAuditRows(t testing.TB, out string) []table.AuditRow {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(out, table.AuditDir, "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("got %d audit files; want 1", len(files))
	}
	rows, err := table.ReadAudit(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// requests is the total of the requests column.
func requests(rows []table.InferenceRow) int64 {
	var n int64
	for _, row := range rows {
		n += row.Requests
	}
	return n
}

// send posts one batch of evs from forwarder fwd and fails the test unless
// it is stored (200).
func (h *harness) send(t testing.TB, fwd [16]byte, batchSeq uint64, evs []wire.Event) {
	t.Helper()
	if code := post(t, h.srv.URL, "", encodeBatch(t, fwd, batchSeq, evs), false); code != http.StatusOK {
		t.Fatalf("batch %d: status %d", batchSeq, code)
	}
}

// failDirSync makes fsyncs of dir fail while the returned flag is set (it
// starts set), through atomicfile's fault injection.
func failDirSync(t testing.TB, dir string) *atomic.Bool {
	var failing atomic.Bool
	failing.Store(true)
	t.Cleanup(atomicfile.SetSyncFault(func(d string) error {
		if d == dir && failing.Load() {
			return errors.New("injected: directory fsync failed")
		}
		return nil
	}))
	return &failing
}
