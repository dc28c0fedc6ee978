package diskfault

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/readout-dev/readout/internal/pipeline"
)

// mountTmpfs mounts a tmpfs of the given size (mount(8) syntax: "1m") on
// dir. When mounting is not allowed here (not root, no CAP_SYS_ADMIN) the
// test is skipped, unless CI is set: CI runs as root and must run these. The
// cleanup kills p's daemons first, so nothing holds the mount, then unmounts,
// lazily if a straggler still does.
func mountTmpfs(t *testing.T, p *pipeline.Pipeline, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "cannot mount a tmpfs (these tests need root): " + err.Error() + ": " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		p.KillAll()
		_ = exec.Command("chattr", "-R", "-i", dir).Run()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; unmounting lazily", dir, err, bytes.TrimSpace(out))
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount -l %s: %v: %s", dir, err, bytes.TrimSpace(out))
			}
		}
	})
}

// remountSize grows (or shrinks) a tmpfs in place; open files stay open.
func remountSize(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s size=%s: %v: %s", dir, size, err, bytes.TrimSpace(out))
	}
}

// setImmutable sets or clears the immutable attribute of dir: while set,
// no file can be created, renamed or removed in it, even by root, while
// files already open keep working. This stands in for a read-only remount,
// which the kernel refuses (EBUSY) while a daemon holds a file of the mount
// open for writing, as both daemons always do.
func setImmutable(t *testing.T, dir string, on bool) {
	t.Helper()
	flag := "-i"
	if on {
		flag = "+i"
	}
	if out, err := exec.Command("chattr", flag, dir).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v: %s", flag, dir, err, bytes.TrimSpace(out))
	}
}

// fill writes a file in dir until the file system is full and returns its
// path; removing it gives the space back.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// segmentFiles lists the files in dir ending in suffix that hold more than
// min bytes, oldest (lowest number) first.
func segmentFiles(t *testing.T, dir, suffix string, min int64) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() > min {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// flipByte inverts every bit of the byte at off.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// chopTail cuts n bytes off the end of path, as a crash mid-write would.
func chopTail(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// dirFiles lists the regular files under dir (recursively).
func dirFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, path)
		}
		return nil
	})
	return out
}
