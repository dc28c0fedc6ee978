package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// mountTmpfs mounts a tmpfs of size bytes (mount(8) syntax, "256k") on a
// fresh directory and returns it. Mounting needs root: elsewhere the test is
// skipped, unless CI is set (CI runs as root and must run it).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "cannot mount a tmpfs (needs root): " + err.Error() + ": " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, bytes.TrimSpace(out))
		}
	})
	return dir
}

// bigPayload returns 12 KiB of incompressible bytes that depend on i, so a
// 256 KiB file system holds about twenty records.
func bigPayload(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 2))
	b := make([]byte, 12<<10)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestDiskFullInActiveSegment fills the spool's file system while
// everything written sits in the one active segment (the default segment
// size is far above the disk's), then lets a shipper drain it. The failed
// append must leave no partial record, name the segment and offset, and
// the spool must recover by itself once shipping frees the space: without
// the test freeing anything, even when not one more page is free for a new
// segment file, and with nothing lost or reordered.
func TestDiskFullInActiveSegment(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fill takes the last free pages after the first failure, so that
		// not even a new segment's header fits until shipping frees some.
		fill bool
		// early starts shipping before the disk fills.
		early bool
	}{
		{"header of a new segment fits", false, false},
		{"not one page free", true, false},
		{"shipping while it fills", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // the shipper and the writer race; run it a few times
				diskFullInActiveSegment(t, tc.fill, tc.early)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func diskFullInActiveSegment(t *testing.T, fill, early bool) {
	fs := mountTmpfs(t, "256k")
	dir := filepath.Join(fs, "spool")
	core, logs := observer.New(zap.DebugLevel)
	s := mustOpen(t, dir, Options{Compression: CompressionNone, Logger: zap.New(core)})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sh := startShipper(ctx, s)
	defer sh.stop()
	if early {
		sh.begin()
	}

	const total = 80 // about four times what the disk holds
	var failures int
	i := 0
	for ; i < total; i++ {
		_, err := s.Append(1, uint32(i), bigPayload(i), false)
		if err == nil {
			sh.appended(i)
			if err := s.Sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append %d: %v; want no space left on device", i, err)
		}
		failures++
		if failures == 1 {
			checkFirstFailure(t, s, dir, err, !early)
			if fill {
				fillDisk(t, fs)
			}
			sh.begin()
		}
		// Retry the same batch, as the forwarder's writer does.
		select {
		case <-ctx.Done():
			t.Fatalf("record %d never fitted: the spool did not recover (%d failed appends; stats %+v)", i, failures, s.Stats())
		case <-time.After(5 * time.Millisecond):
		}
		i--
	}
	if failures == 0 {
		t.Fatal("the disk never filled")
	}
	if err := s.WaitDrained(ctx); err != nil {
		t.Fatalf("drain: %v (stats %+v)", err, s.Stats())
	}
	got, err := sh.finish()
	if err != nil {
		t.Fatalf("shipping: %v", err)
	}
	if got != total {
		t.Errorf("shipped %d records; want %d", got, total)
	}
	if st := s.Stats(); st.TornTails != 0 || st.CorruptSegments != 0 {
		t.Errorf("stats %+v; want no torn tail and no corrupt segment", st)
	}
	if n := logs.FilterMessageSnippet("no space").Len(); n > 0 {
		t.Errorf("the spool logged the full disk %d times itself; the caller that gets the error logs it", n)
	}
	if fill {
		// Room for the acknowledged mark at Close; without it the restart
		// would re-send (harmless, but not what is checked here).
		if err := os.Remove(filepath.Join(fs, "filler")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkRestartClean(t, dir)
}

// checkRestartClean wants a spool whose every batch was acknowledged to
// find nothing to ship at a restart, and nothing damaged.
func checkRestartClean(t *testing.T, dir string) {
	t.Helper()
	s := mustOpen(t, dir, Options{Compression: CompressionNone})
	defer s.Close()
	noNext(t, s)
	if st := s.Stats(); st.Pending != 0 || st.TornTails != 0 || st.CorruptSegments != 0 {
		t.Errorf("after restart: stats %+v; want nothing pending, torn or corrupt", st)
	}
	if q, _ := os.ReadDir(s.QuarantineDir()); len(q) != 0 {
		t.Errorf("%d files in quarantine after a full disk", len(q))
	}
}

// checkingShipper ships like the forwarder: Next in a loop, each record
// checked against the appends that succeeded, in order, then Release. It
// waits for begin before it takes the first record.
type checkingShipper struct {
	s     *Spool
	ctx   context.Context // the test's: its end is a failure
	stop  context.CancelFunc
	start chan struct{}
	once  sync.Once
	done  chan error

	mu   sync.Mutex
	want []int // payload index of each record appended, in order
	got  int
}

func startShipper(ctx context.Context, s *Spool) *checkingShipper {
	shipCtx, stop := context.WithCancel(ctx)
	sh := &checkingShipper{s: s, ctx: ctx, stop: stop, start: make(chan struct{}), done: make(chan error, 1)}
	go func() { sh.done <- sh.run(shipCtx) }()
	return sh
}

func (sh *checkingShipper) run(ctx context.Context) error {
	select {
	case <-sh.start:
	case <-ctx.Done():
		return nil
	}
	for {
		rec, err := sh.s.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && sh.ctx.Err() == nil {
				err = nil // stopped by the test
			}
			return err
		}
		sh.mu.Lock()
		ok := sh.got < len(sh.want) && bytes.Equal(rec.Events, bigPayload(sh.want[sh.got])) && rec.EventCount == uint32(sh.want[sh.got])
		sh.got++
		sh.mu.Unlock()
		if !ok {
			return fmt.Errorf("record seq %d came back out of order, damaged or never appended", rec.Seq)
		}
		sh.s.Release(rec)
	}
}

// appended records that the append of payload i succeeded.
func (sh *checkingShipper) appended(i int) {
	sh.mu.Lock()
	sh.want = append(sh.want, i)
	sh.mu.Unlock()
}

// begin lets the shipper start; later calls do nothing.
func (sh *checkingShipper) begin() { sh.once.Do(func() { close(sh.start) }) }

// finish stops the shipper and returns how many records it shipped and
// what went wrong.
func (sh *checkingShipper) finish() (int, error) {
	sh.stop()
	err := <-sh.done
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.got, err
}

var appendErrRe = regexp.MustCompile(`^append to segment [0-9]{20}\.seg at offset [0-9]+: .*no space left on device$`)

// checkFirstFailure wants the error to name the segment file and the offset
// the record was going to and, while nothing has shipped, the segment to
// end at its last whole record: the part of the record written before the
// disk filled is cut off.
func checkFirstFailure(t *testing.T, s *Spool, dir string, err error, unshipped bool) {
	t.Helper()
	if msg := err.Error(); !appendErrRe.MatchString(msg) {
		t.Errorf("error %q does not match %s", msg, appendErrRe)
	}
	if !unshipped {
		return
	}
	segs := segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segment files %q; want one", segs)
	}
	if !strings.Contains(err.Error(), filepath.Base(segs[0])) {
		t.Errorf("error %q does not name segment %s", err, filepath.Base(segs[0]))
	}
	f, ferr := os.Open(segs[0])
	if ferr != nil {
		t.Fatal(ferr)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var n int
	end, serr := scanSegment(filepath.Base(segs[0]), f, func(Record, int64) { n++ })
	if serr != nil || end != fi.Size() {
		t.Errorf("segment %s: %d bytes, whole records end at %d (%v): a partial record was left behind", segs[0], fi.Size(), end, serr)
	}
	if st := s.Stats(); n == 0 || st.Pending != n {
		t.Errorf("%d batches pending, %d on disk", st.Pending, n)
	}
}

// TestOpenOnFullDisk restarts the spool on a disk with no page free: it
// must open (shipping what it holds is what frees the disk), ship it, and
// take appends again once that has freed a segment.
func TestOpenOnFullDisk(t *testing.T) {
	fs := mountTmpfs(t, "256k")
	dir := filepath.Join(fs, "spool")
	s := mustOpen(t, dir, Options{Compression: CompressionNone, SegmentBytes: 64 << 10})
	const n = 12 // several segments
	for i := range n {
		if _, err := s.Append(1, uint32(i), bigPayload(i), false); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, fs)

	s = mustOpen(t, dir, Options{Compression: CompressionNone, SegmentBytes: 64 << 10})
	defer s.Close()
	if _, err := s.Append(1, n, bigPayload(n), false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v; want no space left on device", err)
	}
	for i := range n {
		rec := next(t, s)
		if rec.EventCount != uint32(i) || !bytes.Equal(rec.Events, bigPayload(i)) {
			t.Fatalf("record %d: got count %d", i, rec.EventCount)
		}
		s.Release(rec)
	}
	noNext(t, s) // moves the cursor past the last segment, which deletes it
	seq, err := s.Append(1, n, bigPayload(n), false)
	if err != nil {
		t.Fatalf("append after shipping freed the disk: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if rec := next(t, s); rec.Seq != seq || rec.EventCount != n {
		t.Fatalf("got seq %d count %d; want seq %d count %d", rec.Seq, rec.EventCount, seq, n)
	}
}

// TestFailedSeqReservationSeals fills the disk just before the spool must
// reserve more batch seqs. The append fails before writing anything, and
// the batches appended before it (not yet synced: the writer retries the
// failed one before its group commit) must still become shippable, so that
// shipping them can free the disk.
func TestFailedSeqReservationSeals(t *testing.T) {
	fs := mountTmpfs(t, "256k")
	dir := filepath.Join(fs, "spool")
	s := mustOpen(t, dir, Options{Compression: CompressionNone})
	defer s.Close()
	for i := range 3 {
		if _, err := s.Append(1, uint32(i), bigPayload(i), false); err != nil {
			t.Fatal(err)
		}
	}
	fillDisk(t, fs)
	s.wmu.Lock()
	s.q.mu.Lock()
	s.q.w.floor = s.q.next // the next append reserves seqs
	s.q.mu.Unlock()
	s.wmu.Unlock()
	_, err := s.Append(1, 3, bigPayload(3), false)
	if !errors.Is(err, syscall.ENOSPC) || !appendErrRe.MatchString(err.Error()) {
		t.Fatalf("append: %v; want no space left on device, naming segment and offset", err)
	}
	for i := range 3 {
		rec := next(t, s)
		if rec.EventCount != uint32(i) {
			t.Fatalf("got record %d; want %d", rec.EventCount, i)
		}
		s.Release(rec)
	}
	noNext(t, s)
	if _, err := s.Append(1, 3, bigPayload(3), false); err != nil {
		t.Fatalf("append after shipping freed the disk: %v", err)
	}
}
