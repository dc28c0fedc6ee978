package query

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/table"
)

// ErrNoData means the directory holds no file of the table asked for;
// errors.Is(err, ErrNoData) detects it.
var ErrNoData = errors.New("no data")

// noDataError words ErrNoData for the case at hand.
type noDataError string

func (e noDataError) Error() string        { return string(e) }
func (e noDataError) Is(target error) bool { return target == ErrNoData }

// partitionFiles lists the files of a partitioned table whose partition may
// hold a window starting in [from, to), judging by the date=/hour= folder
// names alone, so a file outside the range is never opened. Names starting
// with '.' are the temporary files of atomic writes and are skipped.
func partitionFiles(desc *table.Desc, out string, from, to time.Time, log *zap.Logger) ([]string, error) {
	root := desc.Dir(out)
	if err := checkDir(out); err != nil {
		return nil, err
	}
	if !desc.Partitioned {
		return tableFiles(root) // the table's rows span any time: no pruning
	}
	dates, err := readDir(root)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, d := range dates {
		day, ok := partitionDate(d)
		if !ok {
			log.Warn("skipping entry that is not a date= partition", zap.String("path", filepath.Join(root, d.Name())))
			continue
		}
		if !overlaps(day, day.Add(24*time.Hour), from, to) {
			continue
		}
		dayDir := filepath.Join(root, d.Name())
		hours, err := readDir(dayDir)
		if err != nil {
			return nil, err
		}
		for _, h := range hours {
			hour, ok := partitionHour(h)
			if !ok {
				log.Warn("skipping entry that is not an hour= partition", zap.String("path", filepath.Join(dayDir, h.Name())))
				continue
			}
			start := day.Add(time.Duration(hour) * time.Hour)
			if !overlaps(start, start.Add(time.Hour), from, to) {
				continue
			}
			hourDir := filepath.Join(dayDir, h.Name())
			names, err := readDir(hourDir)
			if err != nil {
				return nil, err
			}
			for _, f := range names {
				if f.IsDir() || !strings.HasSuffix(f.Name(), ".parquet") {
					continue
				}
				files = append(files, filepath.Join(hourDir, f.Name()))
			}
		}
	}
	return files, nil
}

// anyFile reports whether out holds at least one file of a partitioned
// table, whatever its partition: it tells "nothing in this range" from "no
// data".
func anyFile(d *table.Desc, out string) (bool, error) {
	files, err := partitionFiles(d, out, time.Time{}, time.Time{}, zap.NewNop())
	return len(files) > 0, err
}

// tableFiles lists the .parquet files directly in a table folder.
func tableFiles(dir string) ([]string, error) {
	entries, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".parquet") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// checkDir fails clearly when the output directory itself is missing, so
// that the message names what the user typed rather than a sub-folder.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory %s does not exist", dir)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// readDir lists a folder sorted by name, without hidden entries. A missing
// folder is an empty one.
func readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	visible := entries[:0]
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			visible = append(visible, e)
		}
	}
	return visible, nil
}

func partitionDate(e os.DirEntry) (time.Time, bool) {
	v, ok := strings.CutPrefix(e.Name(), "date=")
	if !ok || !e.IsDir() {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, v)
	return t, err == nil
}

func partitionHour(e os.DirEntry) (int, bool) {
	v, ok := strings.CutPrefix(e.Name(), "hour=")
	if !ok || !e.IsDir() || len(v) == 0 || len(v) > 2 {
		return 0, false
	}
	h, err := strconv.Atoi(v)
	return h, err == nil && h >= 0 && h < 24
}

// overlaps reports whether [start, end) meets [from, to), a zero bound
// being open.
func overlaps(start, end, from, to time.Time) bool {
	return (from.IsZero() || end.After(from)) && (to.IsZero() || start.Before(to))
}

// inRange reports whether t lies in [from, to), a zero bound being open.
func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}
