package query

import (
	"runtime"
	"sync"
)

// mergeFiles reads files with several workers, each folding its share into
// a merger of its own, then combines the mergers. Files are dealt to workers
// by index and combined in worker order, so float sums come out the same on
// every run. If files fail, the error of the lowest-indexed failing file is
// returned: each worker stops at its first failure, and any failing file
// below it in another worker's share would have been reached first there.
func mergeFiles(o *Options, files []string) (*merger, error) {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(files)))
	mergers := make([]*merger, workers)
	failed := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		m := newMerger(o)
		mergers[w] = m
		wg.Go(func() {
			for i := w; i < len(files); i += workers {
				path := files[i]
				if err := eachRow(path, func(rows []inferenceColumns) error { return m.add(path, rows) }); err != nil {
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
		return nil, first
	}
	for _, m := range mergers[1:] {
		if err := mergers[0].absorb(m); err != nil {
			return nil, err
		}
	}
	return mergers[0], nil
}
