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
	"testing"

	"github.com/readout-dev/readout/internal/pipeline"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := pipeline.BuildBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
