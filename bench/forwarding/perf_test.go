package forwarding

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestProfileStopsOnceAndWritesData(t *testing.T) {
	if _, err := exec.LookPath("perf"); err != nil {
		t.Skip("perf not installed")
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	}()
	out := filepath.Join(t.TempDir(), "p.perf.data")
	stop, err := Profile(sleeper.Process.Pid, out)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 2)
	go func() { done <- stop(); done <- stop() }() // the second call must not block
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Skipf("perf cannot record here: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("stop blocked")
		}
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("no perf data written: %v", err)
	}
}
