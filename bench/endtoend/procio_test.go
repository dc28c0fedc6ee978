package endtoend

import (
	"os"
	"syscall"
	"testing"
)

func TestParseWriteBytes(t *testing.T) {
	in := "rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 123456\ncancelled_write_bytes: 0\n"
	if got, err := parseWriteBytes([]byte(in)); err != nil || got != 123456 {
		t.Fatalf("parseWriteBytes = %d, %v; want 123456", got, err)
	}
	if _, err := parseWriteBytes([]byte("rchar: 1\n")); err == nil {
		t.Fatal("want an error without write_bytes")
	}
}

// TestReadWriteBytesCountsOwnWrites writes and syncs a file and expects this
// process's write_bytes to grow by at least that much.
func TestReadWriteBytesCountsOwnWrites(t *testing.T) {
	before, err := readWriteBytes(os.Getpid())
	if err != nil {
		t.Skipf("no /proc/PID/io here: %v", err)
	}
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil && fs.Type == 0x01021994 {
		t.Skip("the temporary folder is on tmpfs, which never writes to storage")
	}
	if _, err := ProbeDisk(dir, 8<<20); err != nil {
		t.Fatal(err)
	}
	after, err := readWriteBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 8<<20 {
		t.Fatalf("write_bytes grew by %d after writing 8 MiB", after-before)
	}
}
