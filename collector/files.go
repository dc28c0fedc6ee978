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

// uncommittedFiles lists this collector's output files whose flush seq is
// above committed, split at limit: those at or below it were written by a
// flush whose checkpoint is not the one loaded (a crash before the commit,
// or a newest checkpoint found corrupt), and replay writes their rows
// again; those above it no checkpoint on disk can account for.
func uncommittedFiles(out, id8 string, committed, limit uint64) (redo, unaccounted []string, err error) {
	for _, t := range table.Tables {
		if t.Snapshot {
			continue // rewritten whole at each checkpoint, never by seq
		}
		if err := walkOwnFiles(t.Dir(out), id8, func(path string, seq uint64) {
			switch {
			case seq <= committed:
			case seq <= limit:
				redo = append(redo, path)
			default:
				unaccounted = append(unaccounted, path)
			}
		}); err != nil {
			return nil, nil, fmt.Errorf("list output files: %w", err)
		}
	}
	return redo, unaccounted, nil
}

// walkOwnFiles calls fn for every file under root named as this
// collector's output (see partName).
func walkOwnFiles(root, id8 string, fn func(path string, seq uint64)) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if id, seq, ok := parsePartName(d.Name()); ok && id == id8 {
			fn(path, seq)
		}
		return nil
	})
}

// removeUncommitted deletes the files uncommittedFiles said to redo, and
// makes the deletions durable before anything writes their rows again.
func removeUncommitted(paths []string) error {
	if _, err := removeFiles(paths); err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, p := range paths {
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// UnaccountedFilesError stops a start that would have had to delete
// output files no checkpoint in --data accounts for. Deleting them on
// that evidence destroyed every file a collector had written when its
// checkpoints were moved aside; the files are left as they are.
type UnaccountedFilesError struct {
	DataDir   string
	Files     []string // some of them
	Count     int
	Committed uint64 // the flush seq of the checkpoint loaded, 0 for none
	Reason    string
}

func (e *UnaccountedFilesError) Error() string {
	return fmt.Sprintf("%d output files of this collector (%s, ...) are not accounted for by the checkpoints in %s (committed flush seq %d): %s; "+
		"refusing to start rather than delete or count them again: put the missing checkpoint files back into %s "+
		"(one found corrupt is in its quarantine/ folder), see docs/collector-recovery.md",
		e.Count, strings.Join(e.Files, ", "), e.DataDir, e.Committed, e.Reason, e.DataDir)
}

func unaccounted(dataDir string, files []string, committed uint64, reason string) error {
	return &UnaccountedFilesError{DataDir: dataDir, Files: files[:min(len(files), 3)], Count: len(files), Committed: committed, Reason: reason}
}

// auditPath is this collector's audit snapshot, rewritten at each checkpoint.
func auditPath(out, id8 string) string {
	return filepath.Join(table.Audit.Dir(out), "collector-"+id8+".parquet")
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
