package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/readout-dev/readout/collector/ledger"
	"github.com/readout-dev/readout/internal/atomicfile"
)

// Files under --data.
const (
	checkpointFile = "checkpoint.json"
	idFile         = "collector-id"
	walDir         = "wal"
	quarantineDir  = "quarantine"
)

// checkpoint is the collector's committed state, written atomically after
// every flush. Together with the WAL records above AppliedLSN it rebuilds
// everything in memory after a crash.
type checkpoint struct {
	Version int `json:"version"`
	// FlushSeq is the last committed flush: output files named with a
	// higher flush seq were written but never committed, and are deleted.
	FlushSeq uint64 `json:"flush_seq"`
	// AppliedLSN is the last WAL record the ledger below includes.
	AppliedLSN uint64 `json:"applied_lsn"`
	// Flushed maps a window start (Unix ns) to the LSN through which its
	// events are in committed files: replay skips its events from records at
	// or below that LSN.
	Flushed map[int64]uint64 `json:"flushed"`
	Ledger  *ledger.Ledger   `json:"ledger"`
}

func loadCheckpoint(dir string) (*checkpoint, error) {
	cp := &checkpoint{Version: 1, Flushed: map[int64]uint64{}, Ledger: ledger.New()}
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("parse checkpoint %s: %w", filepath.Join(dir, checkpointFile), err)
	}
	if cp.Version != 1 {
		return nil, fmt.Errorf("checkpoint version %d not supported", cp.Version)
	}
	if cp.Flushed == nil {
		cp.Flushed = map[int64]uint64{}
	}
	if cp.Ledger == nil {
		cp.Ledger = ledger.New()
	}
	return cp, nil
}

// encode returns the checkpoint's bytes. The ingest loop encodes it, since
// it owns the ledger; the flusher writes the bytes with writeFileAtomic.
func (cp *checkpoint) encode() ([]byte, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return b, nil
}

// loadOrCreateID returns the collector's id, kept in --data so that file
// names stay distinct from other collectors writing to the same --out and
// stable across restarts.
func loadOrCreateID(dir string) (uuid.UUID, error) {
	path := filepath.Join(dir, idFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id, perr := uuid.ParseBytes(trimSpace(b))
		if perr != nil {
			return uuid.Nil, fmt.Errorf("parse %s: %w", path, perr)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return uuid.Nil, fmt.Errorf("read %s: %w", path, err)
	}
	id := uuid.New()
	if err := atomicfile.WriteFile(path, []byte(id.String()+"\n")); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
