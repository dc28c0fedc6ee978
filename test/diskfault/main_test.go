// Package diskfault runs readout's real binaries on real, small file systems
// (tmpfs mounts) and breaks the disk under them: a spool or write-ahead log
// that fills up, a directory that stops taking new files, an output folder
// that is full at flush time, and segments torn or damaged while a daemon is
// down. Each fault must be detected, counted in a metric, logged once with
// the file and offset, and survived, and the audit must explain every event.
//
// The tests mount tmpfs, so they need root (CI runs them as root); elsewhere
// they skip unless CI is set.
package diskfault

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "readout-diskfault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/forwarder", "./cmd/collector", "./cmd/loadgen", "./cmd/readout")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}
