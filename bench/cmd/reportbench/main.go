// Command reportbench drives the forwarder's JSON report endpoints
// (--report-addr) at a fixed offered rate, far above the contract's limit
// of 100 requests/s (burst 100), and reports what the limit let in, what
// it refused with 429, the forwarder's CPU per request, and whether every
// accepted report is in the spool exactly once.
//
//	go run ./bench/cmd/reportbench                     # 1,000 requests/s for 30 s
//	go run ./bench/cmd/reportbench --duration 3s       # a short run
//
// It builds ./cmd/forwarder (or takes --bin), starts it against a
// collector that answers 503 to everything, so that every batch stays in
// the spool, spreads the requests over the three endpoints (each with a
// unique instance_id), stops the forwarder with SIGTERM, and reads the
// spool back: the report emitter's events must be exactly the accepted
// requests, with seqs 1..n and a closed message with n.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/readout-dev/readout/bench/forwarding"
	"github.com/readout-dev/readout/forwarder/spool"
	"github.com/readout-dev/readout/wire"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	duration time.Duration
	rate     float64
	workers  int
	bin      string
	out      string
	keep     bool
	fwdFlags string
}

// result is what one run measured; --out writes it as JSON.
type result struct {
	DurationS        float64 `json:"duration_s"`
	OfferedRate      float64 `json:"offered_rate"`
	Offered          int     `json:"offered"`
	Missed           int     `json:"missed"` // due while every worker was busy: never sent
	Sent             int     `json:"sent"`
	Accepted         int     `json:"accepted"`
	Limited          int     `json:"limited_429"`
	Other            int     `json:"other"`
	AcceptedPerS     float64 `json:"accepted_per_s"`
	Bound            float64 `json:"bound"` // burst + rate * elapsed
	ForwarderCPUS    float64 `json:"forwarder_cpu_s"`
	CPUPerRequestUs  float64 `json:"cpu_per_request_us"`
	CPUPerAcceptedUs float64 `json:"cpu_per_accepted_us"`
	AcceptedP50Ms    float64 `json:"accepted_latency_p50_ms"`
	AcceptedP99Ms    float64 `json:"accepted_latency_p99_ms"`
	LimitedP50Ms     float64 `json:"limited_latency_p50_ms"`
	Spooled          int     `json:"spooled"`
	ClosedSeq        uint64  `json:"closed_seq"`
	SpoolCheck       string  `json:"spool_check"` // "ok" or what differs
	ForwarderExit    int     `json:"forwarder_exit"`
}

// The contract's limit (forwarder/report: DefaultRate, DefaultBurst).
const limitRate, limitBurst = 100, 100

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reportbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to offer requests")
	fs.Float64Var(&c.rate, "rate", 1000, "requests offered per second, spread evenly")
	fs.IntVar(&c.workers, "workers", 64, "concurrent HTTP clients; a request due while all are busy is counted missed")
	fs.StringVar(&c.bin, "bin", "", "forwarder binary to run (default: go build ./cmd/forwarder)")
	fs.StringVar(&c.out, "out", "", "also write the result as JSON to this `file`")
	fs.BoolVar(&c.keep, "keep", false, "keep the working folder (spool, forwarder log)")
	fs.StringVar(&c.fwdFlags, "forwarder-flags", "", "more forwarder flags, space-separated (e.g. \"--metrics-addr 127.0.0.1:9101 --pprof\")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.duration <= 0 || c.rate <= 0 || c.workers < 1 {
		fmt.Fprintln(stderr, "reportbench: --duration, --rate and --workers must be positive")
		return 2
	}
	res, err := bench(c, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "reportbench: "+err.Error())
		return 1
	}
	printResult(stdout, c, res)
	if c.out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "reportbench: "+err.Error())
			return 1
		}
	}
	if res.SpoolCheck != "ok" || res.ForwarderExit != 0 || res.Other != 0 || float64(res.Accepted) > res.Bound+1 {
		return 1
	}
	return 0
}

func bench(c config, stderr io.Writer) (*result, error) {
	work, err := os.MkdirTemp("", "reportbench")
	if err != nil {
		return nil, err
	}
	if c.keep {
		fmt.Fprintln(stderr, "reportbench: working folder", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := c.bin
	if bin == "" {
		bin = filepath.Join(work, "forwarder")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/forwarder").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/forwarder (run from the module root): %v\n%s", err, out)
		}
	}
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the bench keeps everything in the spool", http.StatusServiceUnavailable)
	}))
	defer col.Close()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	spoolDir := filepath.Join(work, "spool")
	logf, err := os.Create(filepath.Join(work, "forwarder.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The collector's 503s are retried rarely, so that the forwarder's CPU
	// is the requests' and not the shipper's.
	args := []string{"--socket", filepath.Join(work, "f.sock"), "--spool", spoolDir, "--collector", col.URL,
		"--report-addr", addr, "--drain-timeout", "1s", "--retry-min", "30s", "--retry-max", "30s", "--log-level", "warn"}
	cmd := exec.Command(bin, append(args, strings.Fields(c.fwdFlags)...)...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	// Interrupting the bench stops the forwarder too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := waitListening(addr, exited); err != nil {
		return nil, err
	}
	cpu0, err := forwarding.ReadCPU(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}

	res := &result{OfferedRate: c.rate}
	ld := drive(c, "http://"+addr, sig)
	res.DurationS = ld.elapsed.Seconds()
	cpu1, err := forwarding.ReadCPU(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	res.Offered, res.Missed, res.Sent = ld.offered, ld.missed, ld.sent
	res.Accepted, res.Limited, res.Other = len(ld.accepted), ld.limited, ld.other
	res.AcceptedPerS = float64(res.Accepted) / res.DurationS
	res.Bound = limitBurst + limitRate*res.DurationS
	res.ForwarderCPUS = (cpu1 - cpu0).Seconds()
	if res.Sent > 0 {
		res.CPUPerRequestUs = res.ForwarderCPUS * 1e6 / float64(res.Sent)
	}
	if res.Accepted > 0 {
		res.CPUPerAcceptedUs = res.ForwarderCPUS * 1e6 / float64(res.Accepted)
	}
	res.AcceptedP50Ms, res.AcceptedP99Ms = quantile(ld.okLatency, 0.5), quantile(ld.okLatency, 0.99)
	res.LimitedP50Ms = quantile(ld.limitedLatency, 0.5)

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("forwarder did not exit within 30s of SIGTERM")
	}
	res.ForwarderExit = cmd.ProcessState.ExitCode()
	res.Spooled, res.ClosedSeq, res.SpoolCheck = checkSpool(spoolDir, ld.accepted)
	return res, nil
}

// load is what the clients saw.
type load struct {
	elapsed                   time.Duration
	offered, missed, sent     int
	limited, other            int
	accepted                  map[string]bool // instance ids answered 200
	okLatency, limitedLatency []float64       // ms
}

// drive offers requests at c.rate for c.duration: request i is due at
// start + i/rate; a worker takes it if one is free.
func drive(c config, base string, stop <-chan os.Signal) *load {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.workers}, Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	jobs := make(chan int, c.workers)
	var mu sync.Mutex
	ld := &load{accepted: map[string]bool{}}
	var wg sync.WaitGroup
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				path, body, id := request(i)
				t0 := time.Now()
				resp, err := client.Post(base+path, "application/json", strings.NewReader(body))
				ms := float64(time.Since(t0).Microseconds()) / 1000
				code := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				ld.sent++
				switch code {
				case http.StatusOK:
					ld.accepted[id] = true
					ld.okLatency = append(ld.okLatency, ms)
				case http.StatusTooManyRequests:
					ld.limited++
					ld.limitedLatency = append(ld.limitedLatency, ms)
				default:
					ld.other++
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / c.rate)
loop:
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= c.duration {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-stop:
				break loop
			}
		}
		ld.offered++
		select {
		case jobs <- i:
		default:
			ld.missed++
		}
	}
	close(jobs)
	wg.Wait()
	ld.elapsed = time.Since(start)
	return ld
}

// request returns the i-th request: the three endpoints in turn, each
// with the instance id "bench-i".
func request(i int) (path, body, id string) {
	id = fmt.Sprintf("bench-%d", i)
	switch i % 3 {
	case 0:
		return "/v1/instance-state", fmt.Sprintf(`{"active_time":5,"boot_time":0,"idle_time":10,"metric_duration":15,`+
			`"utilization":0.333,"mean_concurrency":0.5,"deployment_key":"acme/flux","docker_image_uri":"r8.im/acme/flux",`+
			`"hardware":"gpu-a100-large","compute_unit":"gpu","compute_unit_count":1,"instance_id":%q,`+
			`"instance_metadata":{"pod":"p","namespace":"models"},"version":"v1"}`, id), id
	case 1:
		return "/v1/setup-run", fmt.Sprintf(`{"status":"ready","started_at":"2025-03-01T12:00:00Z",`+
			`"completed_at":"2025-03-01T12:01:00Z","logs":"setup done\n","instance_metadata":{"pod":"p"},`+
			`"runtime_metadata":{"cog_version":"0.9.4"},"deployment_key":"acme/flux","instance_id":%q}`, id), id
	}
	return "/v1/download-metrics", fmt.Sprintf(`{"url":"https://huggingface.co/acme/flux/resolve/main/ae.safetensors?download=true",`+
		`"size":335304388,"bytes_per_second":1.2e9,"error":"","instance_id":%q}`, id), id
}

// checkSpool reads a stopped forwarder's spool: the report emitter's
// events must be exactly the accepted ids, once each, with seqs 1..n and
// a closed message with n.
func checkSpool(dir string, accepted map[string]bool) (spooled int, closedSeq uint64, verdict string) {
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		return 0, 0, "open spool: " + err.Error()
	}
	defer sp.Close()
	seen := map[string]int{}
	seqs := map[uint64]bool{}
	var problems []string
	for range sp.Stats().Pending {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := sp.Next(ctx)
		cancel()
		if err != nil {
			return spooled, closedSeq, "read spool: " + err.Error()
		}
		err = wire.Frames(rec.Events, wire.MaxMessageSize, func(frame []byte) error {
			var ev wire.Event
			if err := wire.DecodeEvent(frame, &ev); err != nil {
				return err
			}
			if ev.Kind == wire.KindClosed {
				closedSeq = ev.Seq
				return nil
			}
			spooled++
			seqs[ev.Seq] = true
			switch ev.Kind {
			case wire.KindInstanceState:
				seen[ev.InstanceState.InstanceID]++
			case wire.KindSetupRun:
				seen[ev.SetupRun.InstanceID]++
			case wire.KindDownload:
				seen[ev.Download.InstanceID]++
			}
			return nil
		})
		if err != nil {
			return spooled, closedSeq, "decode: " + err.Error()
		}
	}
	for id := range accepted {
		if seen[id] != 1 {
			problems = append(problems, fmt.Sprintf("%s spooled %d times", id, seen[id]))
		}
	}
	for id := range seen {
		if !accepted[id] {
			problems = append(problems, id+" spooled but not answered 200")
		}
	}
	for s := uint64(1); s <= uint64(spooled); s++ {
		if !seqs[s] {
			problems = append(problems, fmt.Sprintf("seq %d missing", s))
			break
		}
	}
	if closedSeq != uint64(spooled) {
		problems = append(problems, fmt.Sprintf("closed message seq %d, want %d", closedSeq, spooled))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return spooled, closedSeq, strings.Join(problems[:min(len(problems), 5)], "; ")
	}
	return spooled, closedSeq, "ok"
}

func printResult(w io.Writer, c config, r *result) {
	fmt.Fprintf(w, "reportbench: %.0f requests/s offered for %.1f s to a forwarder limited to %d/s (burst %d)\n\n",
		c.rate, r.DurationS, limitRate, limitBurst)
	fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
	row := func(k, f string, v ...any) { fmt.Fprintf(w, "| %s | %s |\n", k, fmt.Sprintf(f, v...)) }
	row("offered / sent / missed (all workers busy)", "%d / %d / %d", r.Offered, r.Sent, r.Missed)
	row("accepted (200)", "%d = %.1f/s", r.Accepted, r.AcceptedPerS)
	row("bound: burst + rate x elapsed", "%.0f (%.1f/s)", r.Bound, r.Bound/r.DurationS)
	row("refused (429)", "%d", r.Limited)
	row("other answers", "%d", r.Other)
	row("forwarder CPU", "%.3f s", r.ForwarderCPUS)
	row("CPU per request / per accepted", "%.1f us / %.1f us", r.CPUPerRequestUs, r.CPUPerAcceptedUs)
	row("latency of 200s p50 / p99", "%.2f ms / %.2f ms", r.AcceptedP50Ms, r.AcceptedP99Ms)
	row("latency of 429s p50", "%.2f ms", r.LimitedP50Ms)
	row("spooled events / closed seq", "%d / %d", r.Spooled, r.ClosedSeq)
	row("every accepted event in the spool once", "%s", r.SpoolCheck)
	row("forwarder exit after SIGTERM", "%d", r.ForwarderExit)
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitListening dials addr until it answers (a dial costs no rate token).
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("forwarder exited at start (see its log with --keep)")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("forwarder not listening on %s after 30s", addr)
}
