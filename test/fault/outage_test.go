package fault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// Forwarder metrics the outage tests watch.
const (
	mSpoolPending = "readout_forwarder_spool_pending_batches"
	mSpoolBytes   = "readout_forwarder_spool_bytes"
	mSpoolFull    = "readout_forwarder_spool_full"
	mSpooled      = "readout_forwarder_events_spooled_total"
)

// metric scrapes one forwarder metric, failing the test when it is absent.
func metric(t *testing.T, p *pipeline.Pipeline, name string) float64 {
	t.Helper()
	v, ok := pipeline.Metric(p.ForwarderMetrics, name)
	if !ok {
		t.Fatalf("forwarder metric %s is missing from http://%s/metrics", name, p.ForwarderMetrics)
	}
	return v
}

// waitMetric polls a forwarder metric until cond holds or ctx ends.
func waitMetric(ctx context.Context, t *testing.T, p *pipeline.Pipeline, name string, cond func(float64) bool) float64 {
	t.Helper()
	for {
		v := metric(t, p, name)
		if cond(v) {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last value %v)", name, ctx.Err(), v)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// truthOf reads a finished fleet's truth.
func truthOf(t *testing.T, f *Fleet) *truth.File {
	t.Helper()
	tr, err := truth.Read(f.Truth)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCollectorOutage stops the collector for five seconds while emitters
// send at a steady rate: the forwarder keeps acknowledging from its spool,
// which grows, and after the collector returns the spool drains and every
// event arrives exactly once.
func TestCollectorOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPipeline(t)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const rate, events, outage = 15000, 120000, 5 * time.Second
	f := startFleet(t, p, "fleet", "--events", strconv.Itoa(events), "--rate", strconv.Itoa(rate),
		"--seed", "11", "--wait=true", "--reconnect-interval", "200ms", "--quiet")
	sleep(ctx, time.Second)
	if err := p.Collector.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop the collector: %v", err)
	}
	spooledAtStop := metric(t, p, mSpooled)
	var maxPending, maxBytes float64
	for end := time.Now().Add(outage); time.Now().Before(end); sleep(ctx, 250*time.Millisecond) {
		maxPending = max(maxPending, metric(t, p, mSpoolPending))
		maxBytes = max(maxBytes, metric(t, p, mSpoolBytes))
	}
	spooledInOutage := metric(t, p, mSpooled) - spooledAtStop
	if !f.Alive() {
		t.Fatal("loadgen finished during the outage; the test's timing is off")
	}
	// At 15k events/s and a 100 ms batch linger, five seconds leave dozens
	// of batches; 10 is far below that and far above a healthy spool's 0-2.
	if maxPending < 10 || spooledInOutage < rate {
		t.Fatalf("the spool did not grow during the outage: max %v pending batches, %v bytes, %v events spooled",
			maxPending, maxBytes, spooledInOutage)
	}
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	drainCtx, drainCancel := context.WithTimeout(ctx, 30*time.Second)
	defer drainCancel()
	waitMetric(drainCtx, t, p, mSpoolPending, func(v float64) bool { return v <= 2 })
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatalf("drain: %v", err)
	}
	checkLogs(t, p)
	tr := truthOf(t, f)
	if tr.Total.Requests != events || tr.Emitter.Dropped != 0 {
		t.Fatalf("the fleet sent %d of %d events and dropped %d; want all sent, none dropped",
			tr.Total.Requests, events, tr.Emitter.Dropped)
	}
	rep, errs := Check(ctx, p, tr)
	checkOrFail(t, errs)
	t.Logf("collector down %s: spool peaked at %.0f batches (%.0f bytes), %.0f events spooled meanwhile; then drained; %d received, %d duplicates dropped, 0 unexplained",
		outage, maxPending, maxBytes, spooledInOutage, rep.Received, rep.Duplicates)
}

// TestSpoolAtCap runs emitters against a forwarder with a tiny spool and no
// collector: the spool fills to its cap, acknowledgements stop, the
// emitters hold what they wrote and then drop (and count) new events.
// When the collector comes, everything spooled ships, nothing spooled was
// deleted, and the audit explains every drop.
func TestSpoolAtCap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The smallest legal spool for 64 KiB batches: four full batches
	// (4 * (65536 + 1024) = 266240 bytes), rounded up; segments at a
	// quarter of it so that shipped segments can be released.
	const spoolMax = 320 << 10
	p := newPipeline(t, "--batch-max-bytes", "65536", "--spool-max-bytes", strconv.Itoa(spoolMax),
		"--spool-segment-bytes", strconv.Itoa(spoolMax/4))
	if err := p.StartForwarder(ctx); err != nil {
		t.Fatal(err)
	}
	const rate, events = 20000, 120000
	f := startFleet(t, p, "fleet", "--events", strconv.Itoa(events), "--rate", strconv.Itoa(rate),
		"--seed", "13", "--wait=false", "--reconnect-interval", "200ms", "--close-timeout", "60s", "--quiet")

	fullCtx, fullCancel := context.WithTimeout(ctx, 15*time.Second)
	defer fullCancel()
	waitMetric(fullCtx, t, p, mSpoolFull, func(v float64) bool { return v == 1 })
	// Full and no collector: nothing can become durable, so nothing more
	// is acknowledged, however long the emitters keep sending.
	spooled := metric(t, p, mSpooled)
	maxBytes := metric(t, p, mSpoolBytes)
	for range 8 {
		sleep(ctx, 250*time.Millisecond)
		maxBytes = max(maxBytes, metric(t, p, mSpoolBytes))
	}
	if now := metric(t, p, mSpooled); now != spooled {
		t.Fatalf("the full spool took %v more events with no collector", now-spooled)
	}
	if full := metric(t, p, mSpoolFull); full != 1 {
		t.Fatalf("%s = %v with no collector; want 1", mSpoolFull, full)
	}
	if maxBytes > spoolMax {
		t.Fatalf("the spool holds %v bytes; its cap is %d", maxBytes, spoolMax)
	}
	if !f.Alive() {
		t.Fatal("loadgen finished while the spool was full; the test's timing is off")
	}
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatalf("drain: %v", err)
	}
	checkLogs(t, p)
	if q, err := os.ReadDir(filepath.Join(p.Spool, "quarantine")); err == nil && len(q) > 0 {
		t.Errorf("the spool quarantined %d files; want none", len(q))
	}
	tr := truthOf(t, f)
	d := tr.Emitter.DroppedByReason
	if tr.Emitter.Dropped == 0 {
		t.Fatal("no emitter dropped anything although the spool was full for two seconds")
	}
	rep, errs := Check(ctx, p, tr)
	checkOrFail(t, errs)
	t.Logf("spool capped at %d bytes (peak %.0f): %d events emitted, %d sent, %d dropped (buffer_full %d, ring_full %d, disconnected %d), %d received, 0 unexplained",
		spoolMax, maxBytes, rep.Emitted, rep.Sent, rep.Dropped, d.BufferFull, d.RingFull, d.Disconnected, rep.Received)
}

// TestForwarderDownAtStart starts emitters with no forwarder: Emit never
// blocks (loadgen keeps its rate and drops, counting each drop), and once
// the forwarder starts the rest flows. The emitter's default 10 s
// reconnect interval is the emitter package's to test; here it is 200 ms so
// the run stays short.
func TestForwarderDownAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newPipeline(t)
	if err := p.StartCollector(ctx); err != nil {
		t.Fatal(err)
	}
	const rate, events = 20000, 80000
	f := startFleet(t, p, "fleet", "--events", strconv.Itoa(events), "--rate", strconv.Itoa(rate),
		"--seed", "17", "--wait=false", "--reconnect-interval", "200ms")
	sleep(ctx, 2*time.Second)
	forwarderAt := time.Now()
	if err := p.StartForwarder(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Progress lines written before the forwarder existed show that the
	// emitters kept taking events at the requested rate instead of
	// blocking their caller.
	var before int
	for _, l := range f.Lines() {
		var n, total int
		if l.At.Before(forwarderAt) {
			if _, err := fmt.Sscanf(l.Text, "loadgen: %d/%d events", &n, &total); err == nil {
				before = max(before, n)
			}
		}
	}
	// Blocked emitters would stop at their buffers, 4 * 512 events.
	if before < rate/4 {
		t.Fatalf("loadgen offered only %d events in the 2 s without a forwarder; want at least %d (Emit must not block)", before, rate/4)
	}
	// Not a performance check: the bound is loose and only catches an
	// emitter that hung its caller somewhere after the forwarder came.
	if limit := time.Duration(float64(events)/rate*float64(time.Second)) + 20*time.Second; f.Elapsed() > limit {
		t.Fatalf("loadgen took %s for %d events at %d/s; want under %s", f.Elapsed(), events, rate, limit)
	}
	if err := p.Drain(time.Minute); err != nil {
		t.Fatalf("drain: %v", err)
	}
	checkLogs(t, p)
	tr := truthOf(t, f)
	d := tr.Emitter.DroppedByReason
	if d.Disconnected == 0 {
		t.Fatalf("no drop with reason disconnected although the forwarder was away for 2 s: %+v", d)
	}
	if tr.Emitter.Emitted != events || tr.Total.Requests == 0 {
		t.Fatalf("emitted %d (want %d), sent %d (want > 0)", tr.Emitter.Emitted, events, tr.Total.Requests)
	}
	rep, errs := Check(ctx, p, tr)
	checkOrFail(t, errs)
	t.Logf("forwarder absent 2 s: %d offered before it came, loadgen ran %s; %d emitted, %d sent, %d dropped (disconnected %d), %d received, 0 unexplained",
		before, f.Elapsed().Round(time.Millisecond), rep.Emitted, rep.Sent, rep.Dropped, d.Disconnected, rep.Received)
}
