package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/readout-dev/readout/bench/forwarding"
)

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown set-up", []string{"--setups", "readout,fluentd"}, `unknown set-up "fluentd"`},
		{"fewer events than connections", []string{"--events", "3", "--conns", "4"}, "--events at least --conns"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != 2 {
				t.Fatalf("unexpected exit status; got %d; want 2 (stderr: %s)", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("stderr lacks %q: %s", tt.want, errb.String())
			}
		})
	}
}

func TestRunWritesResultsAndReportsFailures(t *testing.T) {
	// A readout run against a folder without binaries fails fast; the
	// results files must still be written, with the failure in them.
	dir := t.TempDir()
	var out, errb bytes.Buffer
	args := []string{"--events", "400", "--setups", "readout-null", "--bin", t.TempDir(), "--out", dir, "--work", t.TempDir()}
	if code := run(args, &out, &errb); code != 1 {
		t.Fatalf("unexpected exit status; got %d; want 1 (stderr: %s)", code, errb.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "forwarding.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "failed: forwarder binary missing") {
		t.Fatalf("forwarding.md does not show the failure:\n%s", md)
	}
	b, err := os.ReadFile(filepath.Join(dir, "forwarding.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep forwarding.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Events != 400 || len(rep.Results) != 1 || rep.Results[0].Error == "" {
		t.Fatalf("unexpected report: %+v", rep)
	}
}

func TestRunRsyslogOnly(t *testing.T) {
	if _, err := forwarding.FindRsyslogd(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	args := []string{"--events", "2000", "--setups", "rsyslog-linkedlist", "--no-install", "--out", dir, "--work", t.TempDir()}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("unexpected exit status %d; stderr: %s\nstdout: %s", code, errb.String(), out.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "forwarding.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| rsyslog, LinkedList queue (memory, disk on overflow) | 2000 |") {
		t.Fatalf("forwarding.md lacks the rsyslog row:\n%s", md)
	}
}
