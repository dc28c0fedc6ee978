package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
	"github.com/readout-dev/readout/internal/truth"
)

// step is one crash of the plan: after gap, SIGKILL victim, leave it down
// for down, restart it. Victim "both" kills the collector, then after down
// the forwarder while its spool holds batches it could not ship, restarts
// the forwarder (it recovers the spool and takes events again) and then
// the collector.
type step struct {
	gap, down time.Duration
	victim    string // "forwarder", "collector" or "both"
}

var victims = []string{"forwarder", "forwarder", "collector", "collector", "both"}

// crashPlan draws the whole schedule from the seed up front, so a seed
// replays the same kills at the same offsets.
func crashPlan(seed int64, cycles int) []step {
	r := rand.New(rand.NewPCG(uint64(seed), 0xfa17))
	plan := make([]step, cycles)
	for i := range plan {
		plan[i] = step{
			// Gaps as short as 200 ms kill a daemon while it is still
			// replaying, recovering its spool or WAL from the last crash.
			gap:    200*time.Millisecond + time.Duration(r.Int64N(int64(1800*time.Millisecond))),
			down:   time.Duration(r.Int64N(int64(time.Second))),
			victim: victims[r.IntN(len(victims))],
		}
	}
	return plan
}

// Crash-test load: a fleet that drops (Emit) and one that waits
// (EmitWait) run together. The first proves that every drop is reported
// and explained; the second that, when the caller chooses to wait,
// nothing at all is lost across the crashes.
const (
	crashLossyRate     = 20000
	crashLossyEmitters = 4
	crashWaitRate      = 8000
	crashWaitEmitters  = 2
	// restartAllowance covers a daemon's restart in the plan's length.
	restartAllowance = 600 * time.Millisecond
)

// TestCrashCycles runs loadgen through a real forwarder and collector and
// SIGKILLs one of them (one cycle in five, both) at moments drawn from a
// seed, restarting it each time, for READOUT_FAULT_CYCLES cycles (default
// 5). It then drains both and checks that the audit explains every seq of
// every emitter and that the query totals equal what the emitters report
// as sent: nothing lost, nothing counted twice. Replay a failure with
// -seed or READOUT_FAULT_SEED.
func TestCrashCycles(t *testing.T) {
	seed := faultSeed(t)
	cycles := envInt(t, "READOUT_FAULT_CYCLES", 5)
	plan := crashPlan(seed, cycles)
	span := time.Second // lead-in before the first kill and tail after the last
	for _, s := range plan {
		span += s.gap + s.down + restartAllowance
	}
	span += time.Second
	// Restarts take longer on a loaded machine than planned, so loadgen is
	// given events for ten times the plan and interrupted (SIGTERM: it
	// stops, closes its emitters and writes its truth) a second after the
	// last restart: the traffic covers every cycle whatever the machine.
	lossyEvents := int(10 * span.Seconds() * crashLossyRate)
	waitEvents := int(10 * span.Seconds() * crashWaitRate)
	t.Logf("fault: seed=%d cycles=%d planned=%s (replay: READOUT_FAULT_SEED=%d READOUT_FAULT_CYCLES=%d go test -run TestCrashCycles -v ./test/fault/)",
		seed, cycles, span.Round(time.Millisecond), seed, cycles)

	ctx, cancel := context.WithTimeout(context.Background(), 4*span+3*time.Minute)
	defer cancel()

	v := verdict{seed: seed, cycles: cycles}
	defer func() {
		line := v.line(t.Failed())
		t.Log(line)
		fmt.Println(line)
	}()

	// A long drain timeout: the collector rebuilds its open windows from
	// its WAL after each crash, which takes longer the more events the WAL
	// holds, and meanwhile the forwarder's spool grows; the backlog must
	// ship before the forwarder exits, or the check would find it missing.
	p := newPipeline(t, "--drain-timeout", "3m")
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	common := []string{"--reconnect-interval", "200ms", "--close-timeout", "60s", "--quiet"}
	lossy := startFleet(t, p, "lossy", append([]string{
		"--events", strconv.Itoa(lossyEvents), "--rate", strconv.Itoa(crashLossyRate),
		"--emitters", strconv.Itoa(crashLossyEmitters), "--seed", strconv.FormatInt(seed, 10), "--wait=false",
	}, common...)...)
	waiting := startFleet(t, p, "waiting", append([]string{
		"--events", strconv.Itoa(waitEvents), "--rate", strconv.Itoa(crashWaitRate),
		"--emitters", strconv.Itoa(crashWaitEmitters), "--seed", strconv.FormatInt(seed+1, 10), "--wait=true",
	}, common...)...)

	sleep(ctx, time.Second)
	for i, s := range plan {
		sleep(ctx, s.gap)
		if !lossy.Alive() || !waiting.Alive() {
			v.idleKills++
		}
		began := time.Now()
		if err := crash(ctx, p, s, &v); err != nil {
			t.Fatalf("cycle %d: %v", i+1, err)
		}
		what := "the " + s.victim
		if s.victim == "both" {
			what = "the collector, then the forwarder,"
		}
		t.Logf("cycle %d: killed %s after %s, down %s, all ready again after %s", i+1, what,
			s.gap.Round(time.Millisecond), s.down.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	}
	if v.idleKills > 0 {
		t.Errorf("%d kills came after loadgen had finished: they tested nothing", v.idleKills)
	}
	sleep(ctx, time.Second)
	lossy.Interrupt()
	waiting.Interrupt()

	for _, f := range []*Fleet{lossy, waiting} {
		if err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	backlog := metric(t, p, mSpoolPending)
	began := time.Now()
	if err := p.Drain(4 * time.Minute); err != nil {
		t.Fatalf("drain: %v", err)
	}
	t.Logf("drained %v pending batches in %s", backlog, time.Since(began).Round(time.Millisecond))
	checkLogs(t, p)
	checkDrained(t, p)

	var truths []*truth.File
	for _, f := range []*Fleet{lossy, waiting} {
		tr, err := truth.Read(f.Truth)
		if err != nil {
			t.Fatal(err)
		}
		truths = append(truths, tr)
	}
	lt, wt := truths[0], truths[1]
	if wt.Emitter.Dropped != 0 || wt.Total.Requests != wt.Emitter.Emitted {
		t.Errorf("the waiting fleet sent %d of %d events and dropped %d; want all sent and none dropped",
			wt.Total.Requests, wt.Emitter.Emitted, wt.Emitter.Dropped)
	}
	rep, errs := Check(ctx, p, truths...)
	v.rep = rep
	checkOrFail(t, errs)
	if uint64(rep.Received) != lt.Total.Requests+wt.Total.Requests {
		t.Fatalf("the audit received %d events; the truths say %d were sent", rep.Received, lt.Total.Requests+wt.Total.Requests)
	}
}

// crash carries out one step: SIGKILL, wait, restart.
func crash(ctx context.Context, p *pipeline.Pipeline, s step, v *verdict) error {
	kill := func(proc *pipeline.Process) error {
		if !proc.Alive() {
			return fmt.Errorf("the %s died on its own before its kill: %s", proc.Name, proc.Tail(1500))
		}
		proc.Kill()
		return nil
	}
	restart := func(name string, start func(context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := start(rctx); err != nil {
			return fmt.Errorf("restart the %s: %w", name, err)
		}
		return nil
	}
	switch s.victim {
	case "forwarder":
		v.forwarderKills++
		if err := kill(p.Forwarder); err != nil {
			return err
		}
		sleep(ctx, s.down)
		return restart("forwarder", p.StartForwarder)
	case "collector":
		v.collectorKills++
		if err := kill(p.Collector); err != nil {
			return err
		}
		sleep(ctx, s.down)
		return restart("collector", p.StartCollector)
	}
	v.bothKills++
	if err := kill(p.Collector); err != nil {
		return err
	}
	sleep(ctx, s.down)
	if err := kill(p.Forwarder); err != nil {
		return err
	}
	if err := restart("forwarder", p.StartForwarder); err != nil {
		return err
	}
	sleep(ctx, 300*time.Millisecond)
	return restart("collector", p.StartCollector)
}

// verdict is the one line a crash run ends with.
type verdict struct {
	seed                                   int64
	cycles, forwarderKills, collectorKills int
	bothKills, idleKills                   int
	rep                                    Report
}

func (v verdict) line(failed bool) string {
	status := "PASS"
	if failed {
		status = "FAIL"
	}
	return fmt.Sprintf("fault: %s seed=%d cycles=%d (forwarder %d, collector %d, both %d) emitters=%d events=%d sent=%d dropped=%d replayed=%d received=%d unexplained=%d duplicates_dropped=%d",
		status, v.seed, v.cycles, v.forwarderKills, v.collectorKills, v.bothKills, v.rep.Emitters, v.rep.Emitted, v.rep.Sent,
		v.rep.Dropped, v.rep.Replayed, v.rep.Received, v.rep.Unexplained, v.rep.Duplicates)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// checkDrained fails when the forwarder exited with batches left in its
// spool: with a live collector, its drain must ship everything.
func checkDrained(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Dir, "forwarder.log"))
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.LastIndex(string(b), "drain timeout"); i >= 0 {
		t.Fatalf("the forwarder's drain timed out with batches still in its spool: %s", tail(b[i:], 500))
	}
}

// checkLogs fails on a panic in either daemon's log: a crash the test did
// not cause.
func checkLogs(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	for _, name := range []string{"forwarder.log", "collector.log"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		if i := strings.Index(string(b), "panic:"); i >= 0 {
			t.Errorf("%s shows a panic:\n%s", name, tail(b[i:], 3000))
		}
	}
}
