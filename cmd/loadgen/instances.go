package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/readout-dev/readout/emitter"
	"github.com/readout-dev/readout/instancestate"
	"github.com/readout-dev/readout/internal/truth"
	"github.com/readout-dev/readout/prediction"
	"github.com/readout-dev/readout/setuprun"
	"github.com/readout-dev/readout/wire"
)

// The instance fleet (--streams instances): model instances run the way
// Replicate's do, each with its own emitter and the libraries an instance
// links (instancestate, setuprun, prediction). Each instance lives through
// --sim-duration of simulated time, which ends about now, so that a run
// takes seconds: every library is driven by a clock the simulation sets
// before each step, and reports exactly what it would have in real time.
// Downloads are reported as JSON to the forwarder's --report-addr, as a
// process that already reports JSON would; without it, through the
// emitter.

// deployment is one simulated deployment.
type deployment struct {
	key, hardware, version string
	predMedian             time.Duration // median predict time
	interarrival           time.Duration // mean time between predictions per instance
	failSetup              bool          // every instance's setup fails
	images                 bool          // predictions make images rather than tokens
}

var deployments = []deployment{
	{key: "acme/flux-schnell", hardware: "gpu-a100-large", version: "v7", predMedian: 3 * time.Second, interarrival: 2 * time.Second, images: true},
	{key: "acme/llama-3-8b", hardware: "gpu-l40s", version: "v3", predMedian: 6 * time.Second, interarrival: 3 * time.Second},
	{key: "acme/whisper-large", hardware: "gpu-t4", version: "v2", predMedian: 10 * time.Second, interarrival: 12 * time.Second},
	{key: "acme/broken-model", hardware: "gpu-t4", version: "v1", failSetup: true},
}

// instanceSink is what the libraries send through: the instance's emitter,
// blocking for room rather than dropping (a simulation emits far faster
// than an instance would), with every event the emitter took added to the
// truth.
type instanceSink struct {
	ctx context.Context
	em  *emitter.Emitter
	mu  *sync.Mutex
	tr  *truth.Streams
	err error // the first emit error, under mu
}

func (s *instanceSink) emit(ts int64, m wire.Member) bool {
	err := s.em.EmitMemberWait(s.ctx, time.Unix(0, ts), m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return false
	}
	var ev wire.Event
	m.Fill(&ev)
	s.tr.Add(&ev)
	return true
}

func (s *instanceSink) EmitInstanceState(v *wire.InstanceState) bool {
	return s.emit(v.IntervalEndNs, wire.InstanceStateMember(v))
}
func (s *instanceSink) EmitSetupRun(v *wire.SetupRun) bool {
	return s.emit(v.CompletedAtNs, wire.SetupRunMember(v))
}
func (s *instanceSink) EmitPrediction(v *wire.Prediction) bool {
	return s.emit(v.CompletedAtNs, wire.PredictionMember(v))
}
func (s *instanceSink) EmitDownload(v *wire.Download) bool {
	return s.emit(time.Now().UnixNano(), wire.DownloadMember(v))
}

// simClock is a clock the simulation sets.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// step is one thing that happens to an instance at a simulated time.
type step struct {
	at time.Time
	do func() error
}

// runInstances runs the fleet and returns what it sent, and the emitters'
// final stats.
func runInstances(ctx context.Context, c *config) (*truth.Streams, []emitter.Stats, error) {
	tr := truth.NewStreams()
	var mu sync.Mutex
	end := time.Now().Add(-time.Minute) // every window the fleet fills can close at once
	reporter := newJSONReporter(c.reportAddr, tr, &mu)
	stats := make([]emitter.Stats, c.instances)
	errs := make([]error, c.instances)
	var wg sync.WaitGroup
	for i := 0; i < c.instances; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = runInstance(ctx, c, i, end, tr, &mu, reporter)
		}()
	}
	wg.Wait()
	return tr, stats, errors.Join(errs...)
}

// runInstance simulates instance i from its scheduling to end.
func runInstance(ctx context.Context, c *config, i int, end time.Time, tr *truth.Streams, mu *sync.Mutex, rep *jsonReporter) (emitter.Stats, error) {
	r := rand.New(rand.NewPCG(c.seed, uint64(i)+0x5bd1e995))
	d := deployments[i%len(deployments)]
	id := fmt.Sprintf("%s-%04x", strings.ReplaceAll(d.key, "/", "-"), r.Uint32()&0xffff)
	em, err := emitter.New(emitter.Options{SocketPath: c.socket, BufferSize: c.buffer, ReconnectInterval: c.reconnect})
	if err != nil {
		return emitter.Stats{}, err
	}
	sink := &instanceSink{ctx: ctx, em: em, mu: mu, tr: tr}
	err = simulateInstance(c, i, r, d, id, end, sink, rep)
	closeCtx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	defer cancel()
	if cerr := em.Close(closeCtx); cerr != nil && err == nil {
		err = fmt.Errorf("instance %s: close: %w", id, cerr)
	}
	st := em.Stats()
	mu.Lock()
	if err == nil && sink.err != nil && ctx.Err() == nil {
		err = fmt.Errorf("instance %s: %w", id, sink.err)
	}
	mu.Unlock()
	if err == nil && st.Dropped > 0 {
		// The truth counts what the emitter took; a drop after that (a
		// close timeout) would make it wrong, so say so.
		err = fmt.Errorf("instance %s: the emitter dropped %d events it had taken", id, st.Dropped)
	}
	return st, err
}

// simulateInstance lays out the instance's life as steps in time order and
// runs them, the simulated clock set to each step's time.
func simulateInstance(c *config, i int, r *rand.Rand, d deployment, id string, end time.Time, sink *instanceSink, rep *jsonReporter) error {
	clock := &simClock{}
	scheduled := end.Add(-c.simDuration).Add(time.Duration(r.IntN(20_000)) * time.Millisecond)
	started := scheduled.Add(time.Duration(1000+r.IntN(3000)) * time.Millisecond)
	ready := started.Add(time.Duration(20_000+r.IntN(40_000)) * time.Millisecond)
	clock.set(scheduled)
	// Every other instance reports its state and setup as JSON to the
	// forwarder, the way Replicate's Director does; the rest through
	// their emitters.
	var stateSink instancestate.Sink = sink
	var setupSink setuprun.Sink = sink
	var viaJSON *jsonSink
	if rep.addr != "" && (i/len(deployments))%2 == 1 {
		viaJSON = &jsonSink{rep: rep}
		stateSink, setupSink = viaJSON, viaJSON
	}
	mon, err := instancestate.New(instancestate.Options{Sink: stateSink, Clock: clock.Now, DeploymentKey: d.key,
		DockerImageURI: "r8.im/" + d.key + "@sha256:" + fmt.Sprintf("%016x", r.Uint64()), Hardware: d.hardware,
		ComputeUnit: "gpu", ComputeUnitCount: 1, InstanceID: id, Version: d.version,
		Metadata: []wire.Label{{Key: "zone", Value: []string{"us-east-1a", "us-west-2b"}[r.IntN(2)]}}})
	if err != nil {
		return err
	}
	setup, err := setuprun.New(setuprun.Options{Sink: setupSink, Clock: clock.Now, ScheduledAt: scheduled, StartedAt: started,
		DeploymentKey: d.key, InstanceID: id, RuntimeMetadata: []wire.Label{{Key: "cog", Value: "0.14.1"}}})
	if err != nil {
		return err
	}
	var steps []step
	add := func(at time.Time, do func() error) { steps = append(steps, step{at, do}) }
	if d.failSetup {
		end = ready // its instance is shut down when setup fails
	}
	for t := scheduled.Add(instancestate.DefaultInterval); t.Before(end); t = t.Add(instancestate.DefaultInterval) {
		add(t, func() error { mon.Tick(t); return nil })
	}
	add(started, func() error {
		fmt.Fprintf(setup, "starting setup for %s\n", d.key)
		for _, dl := range downloadsOf(r, d, id) {
			if err := rep.report(sink, dl); err != nil {
				return err
			}
			fmt.Fprintf(setup, "downloaded %s (%d bytes)\n", dl.URL, dl.SizeBytes)
		}
		return nil
	})
	if d.failSetup {
		add(ready, func() error {
			fmt.Fprintf(setup, "Traceback (most recent call last):\n  File \"predict.py\", line 12, in setup\nRuntimeError: CUDA out of memory\n")
			return setup.Failed()
		})
	} else {
		add(ready, func() error {
			// A long setup log: more than setuprun keeps, so the report
			// carries its last 20 KiB and the count of the rest.
			for k := 0; k < 400; k++ {
				fmt.Fprintf(setup, "loading shard %03d/400 of weights ... ok\n", k)
			}
			mon.SetupDone()
			return setup.Ready()
		})
		steps = append(steps, predictionSteps(r, d, id, ready, end, mon, clock, sink)...)
	}
	sort.SliceStable(steps, func(a, b int) bool { return steps[a].at.Before(steps[b].at) })
	for _, s := range steps {
		if sink.ctx.Err() != nil {
			break
		}
		clock.set(s.at)
		if err := s.do(); err != nil {
			return fmt.Errorf("instance %s: %w", id, err)
		}
	}
	clock.set(end)
	mon.Close() // the last, partial interval
	if viaJSON != nil && viaJSON.err != nil {
		return fmt.Errorf("instance %s: %w", id, viaJSON.err)
	}
	return nil
}

// predictionSteps are the instance's predictions between ready and end:
// Poisson arrivals, log-normal predict times, so that they overlap. Each is
// tracked by a prediction.Tracker and counted by the monitor.
func predictionSteps(r *rand.Rand, d deployment, id string, ready, end time.Time, mon *instancestate.Monitor, clock *simClock, sink *instanceSink) []step {
	var steps []step
	t := ready
	for n := 0; ; n++ {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(d.interarrival)))
		dur := time.Duration(float64(d.predMedian) * math.Exp(0.5*r.NormFloat64()))
		if !t.Add(dur).Before(end) {
			return steps
		}
		start, done := t, t.Add(dur)
		created := start.Add(-time.Duration(r.IntN(500)) * time.Millisecond)
		outcome := r.IntN(100)
		in, out, images := uint32(10+r.IntN(500)), uint32(r.IntN(800)), uint32(0)
		if d.images {
			in, out, images = 0, 0, uint32(1+r.IntN(4))
		}
		pid := fmt.Sprintf("%s-p%05d", id, n)
		var tracker *prediction.Tracker
		steps = append(steps, step{start, func() error {
			var err error
			tracker, err = prediction.New(prediction.Options{Sink: sink, Clock: clock.Now, PredictionID: pid,
				DeploymentKey: d.key, Version: d.version, CreatedAt: created, StartedAt: start})
			if err != nil {
				return err
			}
			mon.StartAt(start)
			return nil
		}}, step{done, func() error {
			if err := mon.FinishAt(done); err != nil {
				return err
			}
			if err := tracker.SetTokens(in, out); err != nil {
				return err
			}
			if err := tracker.AddImages(images); err != nil {
				return err
			}
			_ = tracker.SetAttribute("moderation", "passed")
			var err error
			switch {
			case outcome < 90:
				err = tracker.Succeed()
			case outcome < 95:
				err = tracker.Fail("E1001")
			case outcome < 98:
				err = tracker.Cancel("user")
			default:
				err = tracker.Abort("deadline exceeded")
			}
			if err != nil {
				return err
			}
			return tracker.Stop()
		}})
	}
}

// download is one download an instance reports.
type download struct {
	URL       string
	SizeBytes uint64
	Duration  time.Duration // whole microseconds, so JSON seconds round back exactly
	Error     string
	Instance  string
}

// downloadsOf is what an instance downloads at setup: weights from
// Hugging Face (a resolve URL with a query string) and a config from an
// S3 presigned URL, and now and then one that fails.
func downloadsOf(r *rand.Rand, d deployment, instance string) []download {
	repo := strings.Split(d.key, "/")[1]
	dls := []download{
		{URL: "https://huggingface.co/acme/" + repo + "/resolve/main/model.safetensors?download=true",
			SizeBytes: uint64(2<<30 + r.IntN(1<<30))},
		{URL: "https://weights-acme.s3.us-east-1.amazonaws.com/" + repo + "/config.json?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
			"&X-Amz-Credential=AKIAEXAMPLE%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=3600" +
			"&X-Amz-Signature=" + fmt.Sprintf("%016x", r.Uint64()), SizeBytes: uint64(1000 + r.IntN(9000))},
	}
	if r.IntN(3) == 0 {
		dls = append(dls, download{URL: "https://huggingface.co/acme/" + repo + "/resolve/main/extra.bin",
			SizeBytes: 0, Error: "connection reset by peer"})
	}
	for i := range dls {
		dls[i].Instance = instance
		dls[i].Duration = time.Duration(50_000+r.IntN(20_000_000)) * time.Microsecond
	}
	return dls
}

// jsonReporter posts downloads to the forwarder's --report-addr, the way a
// process that reports JSON would; without an address it emits them.
type jsonReporter struct {
	addr   string
	client *http.Client
	mu     *sync.Mutex
	tr     *truth.Streams
}

func newJSONReporter(addr string, tr *truth.Streams, mu *sync.Mutex) *jsonReporter {
	return &jsonReporter{addr: addr, client: &http.Client{Timeout: 30 * time.Second}, mu: mu, tr: tr}
}

// report sends one download, and adds it to the truth as the forwarder
// turns it into an event: the normalised URL, its host, the duration
// rounded to microseconds.
func (j *jsonReporter) report(sink *instanceSink, dl download) error {
	bps := 0.0
	if dl.Duration > 0 {
		bps = float64(dl.SizeBytes) / dl.Duration.Seconds()
	}
	u, err := url.Parse(dl.URL)
	if err != nil {
		return err
	}
	v := wire.Download{URL: dl.URL, Host: strings.ToLower(u.Host), SizeBytes: dl.SizeBytes,
		DurationUs: uint64(dl.Duration / time.Microsecond), BytesPerSecond: bps, Error: dl.Error, InstanceID: dl.Instance}
	if j.addr == "" {
		sink.EmitDownload(&v)
		return nil
	}
	body, err := json.Marshal(map[string]any{"url": dl.URL, "size": dl.SizeBytes, "bytes_per_second": bps,
		"error": dl.Error, "duration_seconds": dl.Duration.Seconds(), "instance_id": dl.Instance})
	if err != nil {
		return err
	}
	if err := j.post("/v1/download-metrics", body); err != nil {
		return err
	}
	j.add(&wire.Event{Kind: wire.KindDownload, Download: v})
	return nil
}

// add counts an event the forwarder took in the truth.
func (j *jsonReporter) add(ev *wire.Event) {
	j.mu.Lock()
	j.tr.Add(ev)
	j.mu.Unlock()
}

// post sends body until the forwarder takes it (2xx), waiting out 429s as
// Retry-After says and retrying a forwarder that is restarting.
func (j *jsonReporter) post(path string, body []byte) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := j.client.Post("http://"+j.addr+path, "application/json", bytes.NewReader(body))
		wait := 200 * time.Millisecond
		if err == nil {
			resp.Body.Close()
			switch {
			case resp.StatusCode/100 == 2:
				return nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
				if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
			default:
				return fmt.Errorf("POST %s: status %d", path, resp.StatusCode)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("POST %s: the forwarder did not take it for 2 minutes (last: %v)", path, err)
		}
		time.Sleep(wait)
	}
}

// jsonSink reports instance state and setup runs as JSON to the forwarder,
// the way Replicate's Director does, and adds to the truth the events the
// forwarder makes of them: it rounds JSON seconds to nanoseconds, ends the
// interval when the report arrives, and makes the concurrency integral of
// the mean, exactly as computed here.
type jsonSink struct {
	rep *jsonReporter
	err error
}

func (j *jsonSink) EmitInstanceState(v *wire.InstanceState) bool {
	dur := v.IntervalEndNs - v.IntervalStartNs
	secs := func(ns uint64) float64 { return float64(ns) / 1e9 }
	mean := float64(v.ConcurrencyNs) / float64(dur)
	meta := map[string]string{}
	for _, l := range v.InstanceMetadata {
		meta[l.Key] = l.Value
	}
	body, err := json.Marshal(map[string]any{
		"active_time": secs(v.ActiveNs), "boot_time": secs(v.BootNs), "idle_time": secs(v.IdleNs),
		"metric_duration": secs(uint64(dur)), "utilization": float64(v.ActiveNs) / float64(dur), "mean_concurrency": mean,
		"deployment_key": v.DeploymentKey, "docker_image_uri": v.DockerImageURI, "hardware": v.Hardware,
		"compute_unit": v.ComputeUnit, "compute_unit_count": v.ComputeUnitCount, "instance_id": v.InstanceID,
		"instance_metadata": meta, "version": v.Version})
	if err == nil {
		err = j.rep.post("/v1/instance-state", body)
	}
	if err != nil {
		j.err = err
		return false
	}
	ev := wire.Event{Kind: wire.KindInstanceState, InstanceState: *v}
	ev.InstanceState.ConcurrencyNs = uint64(math.Round(mean * float64(dur)))
	ev.InstanceState.IntervalStartNs, ev.InstanceState.IntervalEndNs = 0, dur // only the length is the truth's
	j.rep.add(&ev)
	return true
}

func (j *jsonSink) EmitSetupRun(v *wire.SetupRun) bool {
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
	meta := func(ls []wire.Label) map[string]string {
		m := map[string]string{}
		for _, l := range ls {
			m[l.Key] = l.Value
		}
		return m
	}
	body, err := json.Marshal(map[string]any{"status": v.Status.String(), "scheduled_at": ts(v.ScheduledAtNs),
		"started_at": ts(v.StartedAtNs), "completed_at": ts(v.CompletedAtNs), "logs": v.Logs,
		"instance_metadata": meta(v.InstanceMetadata), "runtime_metadata": meta(v.RuntimeMetadata),
		"deployment_key": v.DeploymentKey, "instance_id": v.InstanceID})
	if err == nil {
		err = j.rep.post("/v1/setup-run", body)
	}
	if err != nil {
		j.err = err
		return false
	}
	j.rep.add(&wire.Event{Kind: wire.KindSetupRun, SetupRun: *v})
	return true
}
