package collector

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/readout-dev/readout/internal/atomicfile"
	"github.com/readout-dev/readout/table"
)

// Output files are named part-<collector id, 8 hex>-<flush seq>-<n>.parquet:
// the collector id keeps collectors sharing --out apart, the flush seq ties
// the file to the checkpoint that commits it, n numbers the partitions one
// flush writes.
func partName(id8 string, flushSeq uint64, n int) string {
	return fmt.Sprintf("part-%s-%010d-%04d.parquet", id8, flushSeq, n)
}

// parsePartName returns the collector id and flush seq of an output file.
func parsePartName(name string) (id8 string, flushSeq uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return "", 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".parquet")
	if !ok {
		return "", 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return parts[0], seq, true
}

// removeUncommitted deletes this collector's output files whose flush seq
// is above the committed one: a crash struck between writing them and
// committing the checkpoint, and replay will write their rows again.
func removeUncommitted(out, id8 string, committed uint64) ([]string, error) {
	root := filepath.Join(out, table.InferenceDir)
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		id, seq, ok := parsePartName(d.Name())
		if !ok || id != id8 || seq <= committed {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed = append(removed, path)
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove uncommitted files: %w", err)
	}
	for _, p := range removed {
		if err := atomicfile.SyncDir(filepath.Dir(p)); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// auditPath is this collector's audit snapshot, rewritten at each checkpoint.
func auditPath(out, id8 string) string {
	return filepath.Join(out, table.AuditDir, "collector-"+id8+".parquet")
}

// quarantineFile moves a damaged state file into the quarantine folder, so
// that nothing a person might want to inspect is destroyed and the next
// start does not trip over it again. It returns the new path.
func quarantineFile(path, qdir string) (string, error) {
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(qdir, fmt.Sprintf("%s.%d", filepath.Base(path), time.Now().UnixNano()))
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	if err := atomicfile.SyncDir(qdir); err != nil {
		return dst, err
	}
	return dst, atomicfile.SyncDir(filepath.Dir(path))
}
