package connlimit

import (
	"errors"
	"syscall"
	"testing"
)

func TestFit(t *testing.T) {
	cases := []struct {
		name       string
		soft, hard uint64
		refuseMax  bool // Set refuses a soft limit of the hard limit itself
		need       uint64
		wantSoft   uint64
		wantErr    bool
	}{
		{"fits", 1024, 4096, false, 1000, 1024, false},
		{"raised to the hard limit", 1024, 65536, false, 1152, 65536, false},
		{"raised to exactly the hard limit", 1024, 1152, false, 1152, 1152, false},
		{"hard limit above the kernel's ceiling", 1024, 1 << 40, true, 1152, 1152, false},
		{"over the hard limit", 1024, 1100, false, 1152, 1024, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim := syscall.Rlimit{Cur: tc.soft, Max: tc.hard}
			r := Rlimit{
				Get: func(l *syscall.Rlimit) error { *l = lim; return nil },
				Set: func(l *syscall.Rlimit) error {
					if l.Cur > l.Max || l.Max != lim.Max || (tc.refuseMax && l.Cur == l.Max) {
						return syscall.EPERM
					}
					lim = *l
					return nil
				},
			}
			got, err := r.Fit(tc.need)
			var le *LimitError
			if tc.wantErr != errors.As(err, &le) {
				t.Fatalf("unexpected error %v", err)
			}
			if le != nil && (le.Need != tc.need || le.Hard != tc.hard) {
				t.Fatalf("unexpected LimitError %+v", le)
			}
			if got != tc.wantSoft || lim.Cur != tc.wantSoft {
				t.Fatalf("unexpected soft limit; got %d (set %d); want %d", got, lim.Cur, tc.wantSoft)
			}
		})
	}
}

// TestFitRaisesTheProcessLimit lowers this test process's own soft limit
// and has Fit raise it back through the real system calls.
func TestFitRaisesTheProcessLimit(t *testing.T) {
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Skip(err)
	}
	if saved.Max < 512 {
		t.Skipf("hard RLIMIT_NOFILE %d is too low", saved.Max)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
	low := syscall.Rlimit{Cur: 256, Max: saved.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	got, err := System.Fit(400)
	if err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if got != saved.Max || now.Cur != saved.Max {
		t.Fatalf("unexpected soft limit; got %d (now %d); want %d", got, now.Cur, saved.Max)
	}
	if _, err := System.Fit(saved.Max + 1); !errors.As(err, new(*LimitError)) {
		t.Fatalf("a need over the hard limit: got %v; want a *LimitError", err)
	}
}
