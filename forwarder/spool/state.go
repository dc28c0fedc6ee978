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

	"github.com/readout-dev/readout/internal/atomicfile"
)

// Small state files kept beside the segments.
const (
	forwarderIDFile = "forwarder-id"
	seqFloorFile    = "batch-seq-floor"
	ackedFile       = "acked-through"
	// seqReserve is how many batch seqs one durable floor update covers.
	seqReserve = 1024
)

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
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(id[:])+"\n")); err != nil {
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
	data := []byte(strconv.FormatUint(v, 10) + "\n")
	if durable {
		return atomicfile.WriteFile(path, data)
	}
	return atomicfile.WriteFileNoSync(path, data)
}
