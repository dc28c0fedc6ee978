package collector

import (
	"fmt"
	"math/rand"
	"net/http"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/readout-dev/readout/query"
	"github.com/readout-dev/readout/wire"
)

// presenceTruth is one presence as the test means it: End zero while open.
type presenceTruth struct {
	model, endpoint, host string
	begin, end            time.Time
}

// TestLifecycleKill9: lifecycle events of endpoints scaling up and down,
// a tracker restart (an appearance whose disappearance never comes, then a
// new presence of the same endpoint), and endpoints still present at the
// end, sent shuffled (disappearances before their appearances, late
// events) through the real collector binary, which is killed with SIGKILL
// in between. `readout query --table lifecycle` then lists exactly the
// presences, and endpoint-seconds per model over a range equal the
// hand-computed sums to the nanosecond.
func TestLifecycleKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	root := t.TempDir()
	data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	at := func(min int, ns int) time.Time { return base.Add(time.Duration(min)*time.Minute + time.Duration(ns)) }
	var truth []presenceTruth
	var evs []wire.Event
	emitted := func(ts time.Time, v wire.Lifecycle) {
		evs = append(evs, wire.Event{TimestampNs: ts.UnixNano(), Kind: wire.KindLifecycle, Lifecycle: v})
	}
	presence := func(model, ep, host string, begin, end time.Time) {
		emitted(begin, wire.Lifecycle{BeginTs: begin.UnixNano(), ModelID: model, Endpoint: ep, Hostname: host})
		if !end.IsZero() {
			emitted(end, wire.Lifecycle{BeginTs: begin.UnixNano(), EndTs: end.UnixNano(), ModelID: model, Endpoint: ep, Hostname: host})
		}
		truth = append(truth, presenceTruth{model, ep, host, begin, end})
	}
	// Model a scales from 2 to 5 endpoints and back; b has one endpoint
	// that flaps, and one whose tracker restarts at minute 70.
	presence("a", "10.0.0.1:80", "h1", at(0, 1), time.Time{})
	presence("a", "10.0.0.2:80", "h1", at(0, 2), at(100, 7))
	for i := 3; i <= 5; i++ {
		presence("a", fmt.Sprintf("10.0.0.%d:80", i), "h2", at(20+i, i), at(60+i, 3*i))
	}
	presence("b", "10.1.0.1:80", "h3", at(5, 0), at(15, 0))
	presence("b", "10.1.0.1:80", "h3", at(16, 0), at(30, 5))
	presence("b", "10.1.0.1:80", "h3", at(31, 0), at(150, 0))
	// The restart: an appearance at 40 never disappears; the restarted
	// tracker announces the endpoint again at 70, which ends it there.
	emitted(at(40, 9), wire.Lifecycle{BeginTs: at(40, 9).UnixNano(), ModelID: "b", Endpoint: "10.1.0.2:80", Hostname: "h4"})
	truth = append(truth, presenceTruth{"b", "10.1.0.2:80", "h4", at(40, 9), at(70, 11)})
	presence("b", "10.1.0.2:80", "h4", at(70, 11), time.Time{})

	r := rand.New(rand.NewSource(9))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	emitter := [16]byte{0x1c}
	for i := range evs {
		evs[i].EmitterID, evs[i].Seq = emitter, uint64(i+1)
	}
	p := startProc(t, data, out)
	for i := 0; i < len(evs); i += 3 {
		batch := evs[i:min(i+3, len(evs))]
		body := encodeBatch(t, [16]byte{0xf7}, uint64(i+1), batch)
		if code := postRaw(p.url, body); code != http.StatusOK {
			t.Fatalf("batch %d: status %d", i, code)
		}
		if i == 9 {
			time.Sleep(100 * time.Millisecond) // a flush: some presences in files, some open
			p.cmd.Process.Kill()
			<-p.exited
			p = startProc(t, data, out)
			if code := postRaw(p.url, body); code != http.StatusOK { // re-sent: duplicates
				t.Fatalf("batch %d again: status %d", i, code)
			}
		}
	}
	p.term(t)

	now := base.Add(4 * time.Hour)
	res, err := query.Run(query.Options{Dir: out, Table: "lifecycle", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(truth, func(i, j int) bool { return truth[i].begin.Before(truth[j].begin) })
	if len(res.Presences) != len(truth) {
		t.Fatalf("query lists %d presences; want %d:\n%+v", len(res.Presences), len(truth), res.Presences)
	}
	for i, w := range truth {
		g := res.Presences[i]
		if g.ModelID != w.model || g.Endpoint != w.endpoint || g.Hostname != w.host || !g.Begin.Equal(w.begin) || !g.End.Equal(w.end) {
			t.Errorf("presence %d: got %+v; want %+v", i, g, w)
		}
	}
	// Endpoint-seconds over a range that cuts presences on both sides,
	// and up to now for the open ones.
	for _, rg := range []struct{ from, to time.Time }{{at(10, 0), at(65, 0)}, {at(50, 5), time.Time{}}} {
		res, err := query.Run(query.Options{Dir: out, Table: "lifecycle", GroupBy: []string{"model_id"},
			From: rg.from, To: rg.to, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		to := rg.to
		if to.IsZero() {
			to = now
		}
		want := map[string]int64{}
		endpoints := map[string]map[string]bool{}
		for _, p := range truth {
			b, e := p.begin, p.end
			if e.IsZero() || e.After(to) {
				e = to
			}
			if b.Before(rg.from) {
				b = rg.from
			}
			if e.After(b) {
				want[p.model] += int64(e.Sub(b))
				if endpoints[p.model] == nil {
					endpoints[p.model] = map[string]bool{}
				}
				endpoints[p.model][p.endpoint] = true
			}
		}
		if len(res.PresenceGroups) != len(want) {
			t.Fatalf("range %v: %d groups; want %d", rg, len(res.PresenceGroups), len(want))
		}
		for _, g := range res.PresenceGroups {
			m := g.Key[0]
			if got := int64(g.Seconds*1e9 + 0.5); got != want[m] || g.Endpoints != int64(len(endpoints[m])) {
				t.Errorf("range %v model %s: %d ns over %d endpoints; want %d ns over %d", rg, m, got, g.Endpoints, want[m], len(endpoints[m]))
			}
		}
	}
}
