package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--duration", "0s"}, {"--rate", "-1"}, {"--workers", "0"}, {"--nope"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: unexpected exit status; got %d; want 2 (stderr: %s)", args, code, errb.String())
		}
	}
}

// TestShortRun drives a real forwarder for a second at 500 requests/s: the
// limit holds, and every accepted report is in the spool once.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the forwarder")
	}
	bin := filepath.Join(t.TempDir(), "forwarder")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/forwarder").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	res := filepath.Join(t.TempDir(), "res.json")
	var out, errb bytes.Buffer
	if code := run([]string{"--duration", "1s", "--rate", "500", "--bin", bin, "--out", res}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var r result
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Accepted < limitBurst || float64(r.Accepted) > r.Bound+1 || r.Accepted+r.Limited != r.Sent || r.SpoolCheck != "ok" {
		t.Fatalf("unexpected result %+v", r)
	}
	if !strings.Contains(out.String(), "every accepted event in the spool once | ok") {
		t.Errorf("report lacks the spool check:\n%s", out.String())
	}
}
