package endtoend

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/readout-dev/readout/internal/truth"
)

// loadgen is a running loadgen child. Its CPU and peak RSS come from the
// rusage that wait(2) returns, since it is gone by the time they matter.
type loadgen struct {
	cmd     *exec.Cmd
	log     *os.File
	truth   string
	start   time.Time
	done    chan struct{}
	err     error
	endedAt time.Time
}

// startLoadgen runs bin/loadgen against socket. Its stderr goes to
// dir/loadgen.log and its truth file to dir/truth.json.
func startLoadgen(bin, dir, socket string, events, emitters int, rate float64, seed uint64) (*loadgen, error) {
	log, err := os.OpenFile(filepath.Join(dir, "loadgen.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	truthPath := filepath.Join(dir, "truth.json")
	cmd := exec.Command(filepath.Join(bin, "loadgen"), "--socket", socket, "--events", strconv.Itoa(events),
		"--emitters", strconv.Itoa(emitters), "--rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"--seed", strconv.FormatUint(seed, 10), "--truth", truthPath, "--quiet")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l := &loadgen{cmd: cmd, log: log, truth: truthPath, done: make(chan struct{})}
	l.start = time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start loadgen: %w", err)
	}
	go func() {
		l.err = cmd.Wait()
		l.endedAt = time.Now()
		log.Close()
		close(l.done)
	}()
	return l, nil
}

// kill ends the child if it still runs and waits for it.
func (l *loadgen) kill() {
	select {
	case <-l.done:
		return
	default:
	}
	_ = l.cmd.Process.Kill()
	<-l.done
}

// usage is the child's CPU time and peak RSS; valid once done is closed.
func (l *loadgen) usage(events int) Usage {
	u := Usage{Process: "loadgen"}
	if ps := l.cmd.ProcessState; ps != nil {
		u.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			u.PeakRSSMiB = float64(ru.Maxrss) / 1024 // Linux reports KiB
		}
	}
	u.CPUPerMillion = perMillion(u.CPUSeconds, events)
	return u
}

// stats reads the emitters' final stats from the truth file.
func (l *loadgen) stats() (sent, dropped uint64, err error) {
	t, err := truth.Read(l.truth)
	if err != nil {
		return 0, 0, fmt.Errorf("loadgen: %w", err)
	}
	return t.Emitter.Sent, t.Emitter.Dropped, nil
}
