// Package atomicfile writes small files so that a reader, or a restart after
// a crash, sees either the old content or the new, never a mix.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// ErrInPlace is wrapped by an error that struck after the rename: the new
// file is already under its final name (only the directory fsync failed),
// so a caller that cleans up after a failure must remove it by that name.
var ErrInPlace = errors.New("the file is in place under its final name")

// WriteFile replaces path with data: it writes a temporary file beside it
// (a dot name that no reader's glob matches), fsyncs it, renames it into
// place and fsyncs the directory, so the rename itself survives a crash.
func WriteFile(path string, data []byte) error {
	return write(path, data, true)
}

// WriteFileNoSync is WriteFile without the fsyncs: still never torn, but it
// may be lost in a crash. For hints that are cheap to recompute.
func WriteFileNoSync(path string, data []byte) error {
	return write(path, data, false)
}

func write(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		return RenamedSyncDir(dir)
	}
	return nil
}

// RenamedSyncDir fsyncs dir after a rename into it; its error wraps
// ErrInPlace.
func RenamedSyncDir(dir string) error {
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("%w: %w", ErrInPlace, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents, and fsyncs the parent of
// each directory it creates, so that a file later made durable in dir is
// not lost with a directory entry that never reached the disk.
func MkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return SyncDir(parent)
}

// syncFault, when set, fails SyncDir for the directories it returns an
// error for. Fault-injection tests only (SetSyncFault): a directory fsync
// that fails cannot be provoked on a healthy file system.
var syncFault atomic.Pointer[func(dir string) error]

// SetSyncFault makes SyncDir fail where fault returns an error, until the
// returned function is called. For fault-injection tests only.
func SetSyncFault(fault func(dir string) error) (restore func()) {
	syncFault.Store(&fault)
	return func() { syncFault.Store(nil) }
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func SyncDir(dir string) error {
	if fault := syncFault.Load(); fault != nil {
		if err := (*fault)(dir); err != nil {
			return fmt.Errorf("sync dir %s: %w", dir, err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
