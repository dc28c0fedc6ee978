package forwarding

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRsyslogConf(t *testing.T) {
	tests := []struct {
		queue Queue
		want  []string
	}{
		{QueueLinkedList, []string{`queue.type="LinkedList"`, `queue.filename="forward-LinkedList"`, `queue.size="200000"`}},
		{QueueDisk, []string{`queue.type="Disk"`, `queue.filename="forward-Disk"`, `queue.maxFileSize="64m"`}},
	}
	for _, tt := range tests {
		t.Run(string(tt.queue), func(t *testing.T) {
			dir := t.TempDir()
			conf, err := RsyslogConf(dir, dir+"/in.sock", 5140, tt.queue)
			if err != nil {
				t.Fatal(err)
			}
			want := append(tt.want, `workDirectory="`+dir+`"`, `path="`+dir+`/in.sock"`, `port="5140"`, `module(load="imptcp")`)
			for _, w := range want {
				if !strings.Contains(conf, w) {
					t.Fatalf("config lacks %s:\n%s", w, conf)
				}
			}
			for _, never := range []string{"imklog", "imuxsock", "$IncludeConfig"} {
				if strings.Contains(conf, never) {
					t.Fatalf("config mentions %s:\n%s", never, conf)
				}
			}
			if path, err := FindRsyslogd(); err == nil {
				// rsyslog's own validation run checks every parameter name.
				f := filepath.Join(dir, "rsyslog.conf")
				if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(path, "-N1", "-f", f).CombinedOutput(); err != nil || strings.Contains(string(out), "error") {
					t.Fatalf("rsyslogd -N1 rejects the config: %v\n%s", err, out)
				}
			}
		})
	}
	if _, err := RsyslogConf("/w", "/w/in.sock", 1, "FixedArray"); err == nil {
		t.Fatal("an unknown queue type was accepted")
	}
}

func TestRunRsyslogDeliversEveryLine(t *testing.T) {
	path, err := FindRsyslogd()
	if err != nil {
		t.Skip(err)
	}
	p, err := BuildPayloads(2000, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []Queue{QueueLinkedList, QueueDisk} {
		t.Run(string(q), func(t *testing.T) {
			res := RunRsyslog(context.Background(), RsyslogConfig{Rsyslogd: path, Dir: t.TempDir(), Queue: q,
				Timeout: 30 * time.Second, Poll: 20 * time.Millisecond}, p)
			if res.Error != "" {
				t.Fatal(res.Error)
			}
			if res.WallSeconds <= 0 || res.EventsPerSec <= 0 || res.PeakRSSMiB <= 0 {
				t.Fatalf("unexpected measurement: %+v", res)
			}
			if res.OutBytesPerEvent != res.InBytesPerEvent {
				t.Fatalf("rsyslog changed the lines; got %.1f bytes/event out; want %.1f", res.OutBytesPerEvent, res.InBytesPerEvent)
			}
		})
	}
}

func TestStallNeedsTheSenderDoneAndNoProgress(t *testing.T) {
	t0 := time.Unix(0, 0)
	var s stall
	steps := []struct {
		at       time.Duration
		count    int64
		sendDone bool
		want     bool
	}{
		{0, 10, false, false},
		{stallAfter * 2, 10, false, false}, // still sending: a slow peer, not a stuck one
		{stallAfter * 2, 10, true, false},  // the clock starts now
		{stallAfter*3 - time.Second, 10, true, false},
		{stallAfter * 3, 10, true, true},
		{stallAfter * 3, 11, true, false}, // progress resets it
	}
	for i, st := range steps {
		if got := s.stuck(t0.Add(st.at), st.count, st.sendDone); got != st.want {
			t.Fatalf("step %d: unexpected stuck; got %v; want %v", i, got, st.want)
		}
	}
}
