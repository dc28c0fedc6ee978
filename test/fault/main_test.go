package fault

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

var (
	binDir   string
	seedFlag = flag.Int64("seed", 0, "fault schedule seed (also READOUT_FAULT_SEED); 0 picks one from the clock")
)

// testForwarderFlags shorten the forwarder's retry backoff (default up to
// 30 s) so that a restarted collector is found within half a second; the
// schedule of retries is not what these tests are about.
var testForwarderFlags = []string{"--retry-max", "500ms"}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := BuildBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newPipeline lays out a pipeline in a temporary folder; cleanup kills
// whatever still runs and, on failure, shows the daemons' log tails.
func newPipeline(t *testing.T, forwarderFlags ...string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(binDir, workDir(t))
	if err != nil {
		t.Fatal(err)
	}
	p.ForwarderFlags = append(append([]string(nil), testForwarderFlags...), forwarderFlags...)
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

// workDir is a fresh temporary folder, or, when READOUT_FAULT_DIR is set,
// a folder named after the test below it that is kept after the run, so
// that the daemons' logs, spool, WAL and output of a failure can be read.
func workDir(t *testing.T) string {
	base := os.Getenv("READOUT_FAULT_DIR")
	if base == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp(base, t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("work folder (kept): %s", dir)
	return dir
}

// startFleet starts loadgen in the background and kills it at cleanup.
func startFleet(t *testing.T, p *pipeline.Pipeline, name string, args ...string) *Fleet {
	t.Helper()
	f, err := StartFleet(p, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(f.Log); err == nil {
				t.Logf("loadgen %s stderr:\n%s", name, tail(b, 2000))
			}
		}
	})
	return f
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// faultSeed is -seed, else READOUT_FAULT_SEED, else the clock.
func faultSeed(t *testing.T) int64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("READOUT_FAULT_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("READOUT_FAULT_SEED=%q: %v", s, err)
		}
		return v
	}
	return time.Now().UnixNano() % 1_000_000_007
}

// envInt reads a positive integer from the environment, else def.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// checkOrFail runs Check and fails the test with every problem it found.
func checkOrFail(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}
