package emitter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestMetrics(t *testing.T) {
	l := listenPipe(t, false)
	reg := prometheus.NewPedanticRegistry()
	e := newEmitter(t, Options{Dial: l.dial, Registerer: reg})
	for i := 0; i < 10; i++ {
		ev := testEvent(i)
		if err := e.EmitWait(context.Background(), time.Time{}, &ev); err != nil {
			t.Fatal(err)
		}
	}
	bad := testEvent(0)
	bad.Backend = "\xff"
	e.Emit(&bad) // dropped: invalid
	e.Emit(nil)  // dropped: invalid
	waitFor(t, "acknowledgements", func() bool { s := e.Stats(); return s.AckedSeq == 10 && s.Sent == 10 })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	s := e.Stats()
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
		}
	}
	want := map[string]float64{
		"readout_emitter_events_emitted_total":                       12,
		"readout_emitter_events_sent_total":                          float64(s.Sent),
		"readout_emitter_events_dropped_total{reason=closed}":        0,
		"readout_emitter_events_dropped_total{reason=invalid}":       2,
		"readout_emitter_events_dropped_total{reason=buffer_full}":   float64(s.DroppedByReason.BufferFull),
		"readout_emitter_events_dropped_total{reason=disconnected}":  float64(s.DroppedByReason.Disconnected),
		"readout_emitter_events_dropped_total{reason=ring_full}":     0,
		"readout_emitter_events_dropped_total{reason=too_large}":     0,
		"readout_emitter_events_dropped_total{reason=close_timeout}": 0,
		"readout_emitter_events_replayed_total":                      0,
		"readout_emitter_connect_errors_total":                       0,
		"readout_emitter_write_errors_total":                         0,
		"readout_emitter_replay_ring_events":                         0,
		"readout_emitter_queued_events":                              0,
		"readout_emitter_acked_seq":                                  float64(s.AckedSeq),
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("metric %s: got %v (present %v); want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected metric set %v", got)
	}
	if s.Sent != 10 || s.Dropped != 2 {
		t.Fatalf("unexpected stats %+v", s)
	}
	// A second emitter on the same registerer must be told, not panic.
	if _, err := New(Options{Dial: l.dial, Registerer: reg}); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Fatalf("unexpected error %v; want a registration error", err)
	}
	// Close unregisters, so that a new emitter may take the registerer.
	if err := closeCtx(t, e, 5*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Fatalf("metrics left after close: %d families, %v", len(mfs), err)
	}
	e2 := newEmitter(t, Options{Dial: l.dial, Registerer: reg})
	if err := closeCtx(t, e2, 5*time.Second); err != nil {
		t.Fatalf("close the second emitter: %v", err)
	}
}
