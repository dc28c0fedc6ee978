package spool

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Small state files kept beside the segments.
const (
	forwarderIDFile = "forwarder-id"
	seqFloorFile    = "batch-seq-floor"
	ackedFile       = "acked-through"
	// seqReserve is how many batch seqs one durable floor update covers.
	seqReserve = 1024
)

// writeFileAtomic replaces path with data: temp file, fsync, rename, and
// (when durable) fsync of the directory, so a crash leaves either the old
// or the new content, never a mix.
func writeFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
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
		return err
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadForwarderID returns the forwarder id kept in dir, creating and
// persisting a random one on first use.
func LoadForwarderID(dir string) ([16]byte, error) {
	var id [16]byte
	path := filepath.Join(dir, forwarderIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := string(bytes.TrimSpace(b))
		raw, derr := hex.DecodeString(s)
		if derr != nil || len(raw) != 16 {
			return id, fmt.Errorf("read %s: want 32 hex digits, got %q", path, s)
		}
		copy(id[:], raw)
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return id, fmt.Errorf("read forwarder id: %w", err)
	}
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("new forwarder id: %w", err)
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(id[:])+"\n"), true); err != nil {
		return id, fmt.Errorf("write forwarder id: %w", err)
	}
	return id, nil
}

// readUint reads a decimal number from a state file; a missing or unreadable
// file counts as 0, which is always the safe answer for our two files (a
// lower acked mark only re-sends; the floor is also derived from segments).
func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func writeUint(path string, v uint64, durable bool) error {
	return writeFileAtomic(path, []byte(strconv.FormatUint(v, 10)+"\n"), durable)
}
