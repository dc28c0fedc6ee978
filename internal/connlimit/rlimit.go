package connlimit

import (
	"fmt"
	"syscall"
)

// Reserve is how many file descriptors a daemon keeps beside its capped
// connections: standard streams, the listeners, the poller, and the files
// it writes (write-ahead log segments, checkpoints, Parquet temp files,
// directories it fsyncs). A collector at rest holds about a dozen; a flush
// adds a few.
const Reserve = 64

// LimitError is a descriptor need that RLIMIT_NOFILE cannot meet.
type LimitError struct {
	Need uint64 // descriptors asked for
	Hard uint64 // the hard limit: the most the soft limit can be raised to
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("needs %d file descriptors but RLIMIT_NOFILE allows at most %d (hard limit)", e.Need, e.Hard)
}

// Rlimit reads and sets RLIMIT_NOFILE; tests give their own.
type Rlimit struct {
	Get func(*syscall.Rlimit) error
	Set func(*syscall.Rlimit) error
}

// System is the process's own RLIMIT_NOFILE.
var System = Rlimit{
	Get: func(r *syscall.Rlimit) error { return syscall.Getrlimit(syscall.RLIMIT_NOFILE, r) },
	Set: func(r *syscall.Rlimit) error { return syscall.Setrlimit(syscall.RLIMIT_NOFILE, r) },
}

// Fit makes the soft limit on open files at least need. It returns the
// soft limit in force afterwards. When need is above the soft limit it
// raises the soft limit to the hard limit (as Go's runtime does at start;
// a soft limit lowered since, or a runtime that did not, is raised here).
// When need is above the hard limit, which only a privileged process could
// raise, it returns a *LimitError and changes nothing.
func (r Rlimit) Fit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := r.Get(&lim); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if need <= lim.Cur {
		return lim.Cur, nil
	}
	if need > lim.Max {
		return lim.Cur, &LimitError{Need: need, Hard: lim.Max}
	}
	raised := lim
	raised.Cur = lim.Max
	if err := r.Set(&raised); err != nil {
		// Some systems refuse a soft limit of the hard limit itself (an
		// unlimited hard limit above the kernel's ceiling); ask for what
		// is needed.
		raised.Cur = need
		if err := r.Set(&raised); err != nil {
			return lim.Cur, fmt.Errorf("raise RLIMIT_NOFILE from %d to %d: %w", lim.Cur, need, err)
		}
	}
	return raised.Cur, nil
}
