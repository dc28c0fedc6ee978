package query

import (
	"runtime"
	"sync"
)

// folder is what a reading worker folds rows into: a merger of groups, or a
// list of rows. Each worker has its own.
type folder[T any] interface {
	add(path string, rows []T) error
}

// readFiles reads files with several workers, each folding its share into a
// folder of its own made by newFolder, and returns the folders in worker
// order with the number of row groups filter let them skip. Files are dealt
// to workers by index, so that combining the folders in order gives the
// same float sums on every run. If files fail, the error of the
// lowest-indexed failing file is returned: each worker stops at its first
// failure, and any failing file below it in another worker's share would
// have been reached first there.
func readFiles[T any, F folder[T]](files []string, workers int, filter rowGroupFilter, newFolder func() F) ([]F, int, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(files)))
	folders := make([]F, workers)
	failed := make([]int, workers)
	skipped := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		f := newFolder()
		folders[w] = f
		wg.Go(func() {
			for i := w; i < len(files); i += workers {
				path := files[i]
				n, err := readRows(path, filter, func(rows []T) error { return f.add(path, rows) })
				skipped[w] += n
				if err != nil {
					failed[w], errs[w] = i, err
					return
				}
			}
		})
	}
	wg.Wait()
	var first error
	firstIndex := len(files)
	for w, err := range errs {
		if err != nil && failed[w] < firstIndex {
			first, firstIndex = err, failed[w]
		}
	}
	if first != nil {
		return nil, 0, first
	}
	total := 0
	for _, n := range skipped {
		total += n
	}
	return folders, total, nil
}

// mergeFiles reads the inference files of r into one merger.
func mergeFiles(r *request) (*merger, int, error) {
	mergers, skipped, err := readFiles(r.files, r.Workers, rowGroupFilter(r.where), func() *merger { return newMerger(r.Options, r.where) })
	if err != nil {
		return nil, 0, err
	}
	for _, m := range mergers[1:] {
		if err := mergers[0].absorb(m); err != nil {
			return nil, 0, err
		}
	}
	return mergers[0], skipped, nil
}
