package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/readout-dev/readout/bench/scaling"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name               string
		args               []string
		conns, sizes, keys []int
		connEvents         int
		err                string
	}{
		{"defaults", nil, []int{1, 4, 16, 64}, []int{1, 512, 1024, 4096}, []int{1000, 10000, 100000, 1000000}, 1_000_000, ""},
		{"quick", []string{"--quick"}, []int{1, 4, 16, 64}, []int{1, 1024, 4096}, []int{1000, 10000, 100000}, 200_000, ""},
		{"one curve", []string{"--curves", "keys", "--keys", "5,6"}, nil, nil, []int{5, 6}, 1_000_000, ""},
		{"unknown curve", []string{"--curves", "latency"}, nil, nil, nil, 0, `unknown curve "latency"`},
		{"bad list", []string{"--conns", "1,x"}, nil, nil, nil, 0, `"x" is not a positive integer`},
		{"too few events", []string{"--conn-events", "10", "--conns", "64"}, nil, nil, nil, 0, "below the 64 connections"},
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
			if !slices.Equal(c.sc.Conns, tt.conns) || !slices.Equal(c.sc.Sizes, tt.sizes) || !slices.Equal(c.sc.Keys, tt.keys) || c.sc.ConnEvents != tt.connEvents {
				t.Fatalf("unexpected config: %+v", c.sc)
			}
		})
	}
}

// TestKeysCurveWritesResults runs the in-process curve for real, small.
func TestKeysCurveWritesResults(t *testing.T) {
	out := t.TempDir()
	var so, se bytes.Buffer
	code := run([]string{"--curves", "keys", "--keys", "50,200", "--key-events", "500", "--out", out, "--work", t.TempDir()}, &so, &se)
	if code != 0 {
		t.Fatalf("unexpected exit status %d; stderr: %s", code, se.String())
	}
	for _, f := range []string{"scaling.md", "scaling.json", scaling.ChartKeys} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "scaling.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("| 200 | 500 |")) {
		t.Fatalf("scaling.md lacks the 200-key row:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out, scaling.ChartConnections)); err == nil {
		t.Fatal("a chart of a curve that did not run was written")
	}

	// --render rewrites the report from the JSON alone.
	again := t.TempDir()
	if code := run([]string{"--render", filepath.Join(out, "scaling.json"), "--out", again}, &so, &se); code != 0 {
		t.Fatalf("render: unexpected exit status %d; stderr: %s", code, se.String())
	}
	md2, err := os.ReadFile(filepath.Join(again, "scaling.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, md2) {
		t.Fatalf("rendered report differs:\n%s\nwant:\n%s", md2, md)
	}
}

func TestIngestCurveWithoutForwarderFails(t *testing.T) {
	var so, se bytes.Buffer
	code := run([]string{"--curves", "connections", "--conns", "1", "--conn-events", "10", "--bin", t.TempDir(),
		"--out", t.TempDir(), "--work", t.TempDir(), "--timeout", "5s"}, &so, &se)
	if code != 1 {
		t.Fatalf("unexpected exit status %d; stdout: %s", code, so.String())
	}
	if !strings.Contains(so.String(), "failed") {
		t.Fatalf("stdout lacks the failure: %s", so.String())
	}
}
