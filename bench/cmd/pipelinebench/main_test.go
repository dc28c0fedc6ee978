package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/readout-dev/readout/bench/endtoend"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		events  int
		timeout time.Duration
		err     string
	}{
		{"defaults", nil, 1_000_000, 5 * time.Minute, ""},
		{"quick", []string{"--quick"}, 200_000, 5 * time.Minute, ""},
		{"quick with events", []string{"--quick", "--events", "5000"}, 5000, 5 * time.Minute, ""},
		{"rate and duration", []string{"--rate", "500000", "--duration", "60s"}, 30_000_000, 5 * time.Minute, ""},
		{"long duration stretches the timeout", []string{"--rate", "1000", "--duration", "5m"}, 300_000, 11 * time.Minute, ""},
		{"duration without rate", []string{"--duration", "60s"}, 0, 0, "--duration needs a --rate"},
		{"fewer events than emitters", []string{"--events", "3"}, 0, 0, "--events at least --emitters"},
		{"stray argument", []string{"now"}, 0, 0, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("unexpected error; got %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.events != tt.events || c.timeout != tt.timeout {
				t.Fatalf("unexpected config; got events %d timeout %v; want %d %v", c.events, c.timeout, tt.events, tt.timeout)
			}
		})
	}
}

func TestRunExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--nope"}, &out, &errb); code != 2 {
		t.Fatalf("unexpected exit status; got %d; want 2", code)
	}
	// A --bin without the binaries fails before anything starts.
	code := run([]string{"--bin", t.TempDir(), "--out", t.TempDir(), "--events", "10", "--work", t.TempDir()}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "binary missing") {
		t.Fatalf("unexpected exit %d; stderr: %s", code, errb.String())
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	rep := &endtoend.Report{Events: 10, Emitters: 2, Stages: []endtoend.Stage{{Key: endtoend.StageEndToEnd, Name: "e2e", Error: "boom"}}}
	var out bytes.Buffer
	if err := write(rep, dir, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pipeline.md", "pipeline.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("boom")) {
			t.Fatalf("%s lacks the failure:\n%s", f, b)
		}
	}
}
