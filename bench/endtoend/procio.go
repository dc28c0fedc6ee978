package endtoend

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// readWriteBytes returns what pid has sent to the storage layer
// (write_bytes in /proc/PID/io): the spool and WAL bytes that must reach the
// disk, which on a machine with a slow disk bound sustained throughput
// before the CPUs do.
func readWriteBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, fmt.Errorf("read io of %d: %w", pid, err)
	}
	return parseWriteBytes(b)
}

func parseWriteBytes(io []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(io))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("write_bytes:")); ok {
			return strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, fmt.Errorf("no write_bytes in /proc/PID/io")
}

// ProbeDisk measures how fast dir's file system takes data that must be
// durable: size bytes in 4 MiB writes, each followed by fdatasync, as the
// spool and WAL group commits do. It returns bytes per second.
func ProbeDisk(dir string, size int64) (float64, error) {
	f, err := os.CreateTemp(dir, "diskprobe-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i*7 + i>>9) // not all zeros, in case the layer below compresses
	}
	start := time.Now()
	for written := int64(0); written < size; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, fmt.Errorf("disk probe %s: %w", filepath.Base(f.Name()), err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("disk probe %s: %w", filepath.Base(f.Name()), err)
		}
	}
	return float64(size) / time.Since(start).Seconds(), nil
}
