package forwarding

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/readout-dev/readout/internal/pipeline"
)

// Queue is an rsyslog action queue set-up for the forwarding action.
type Queue string

// The two classic node-local set-ups: memory first, spilling to disk only on
// overflow; and every message through disk.
const (
	QueueLinkedList Queue = "LinkedList"
	QueueDisk       Queue = "Disk"
)

// RsyslogConfig says how to run one rsyslog forwarder.
type RsyslogConfig struct {
	Rsyslogd string // path to rsyslogd
	Dir      string // working directory: config, socket, queue files, log
	Queue    Queue
	Timeout  time.Duration
	Poll     time.Duration
	Log      io.Writer
	PerfOut  string // when set, perf records rsyslogd's call stacks here
}

// confTemplate is the whole configuration: nothing from the system's
// /etc/rsyslog.conf, no imklog or imuxsock, only the path under test. JSON
// lines come in on a Unix stream socket (imptcp), are forwarded unchanged
// (%rawmsg%) by omfwd over TCP to the sink. dequeueBatchSize is raised from
// its default for both queues: rsyslog's own tuning advice for throughput,
// so the peer is measured at its better settings, not its defaults.
var confTemplate = template.Must(template.New("rsyslog.conf").Parse(`# written by bench/cmd/forwardbench
global(workDirectory="{{.WorkDir}}" maxMessageSize="64k")
module(load="imptcp")
template(name="rawline" type="string" string="%rawmsg%\n")
ruleset(name="forward") {
  action(type="omfwd" target="127.0.0.1" port="{{.Port}}" protocol="tcp" template="rawline"
         queue.type="{{.Queue}}" queue.filename="forward-{{.Queue}}" queue.saveOnShutdown="on"
         queue.dequeueBatchSize="1024"{{if eq .Queue "LinkedList"}} queue.size="200000"{{else}} queue.maxFileSize="64m"{{end}}
         action.resumeRetryCount="-1")
}
input(type="imptcp" path="{{.Socket}}" unlink="on" ruleset="forward")
`))

// RsyslogConf renders the configuration for queue q.
func RsyslogConf(workDir, socket string, port int, q Queue) (string, error) {
	if q != QueueLinkedList && q != QueueDisk {
		return "", fmt.Errorf("unknown rsyslog queue type %q", q)
	}
	var b strings.Builder
	err := confTemplate.Execute(&b, struct {
		WorkDir, Socket string
		Port            int
		Queue           Queue
	}{workDir, socket, port, q})
	return b.String(), err
}

// FindRsyslogd returns the path of rsyslogd, or an error that says how to
// install it.
func FindRsyslogd() (string, error) {
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("rsyslogd not found: install it with 'apt-get install -y rsyslog' (Debian/Ubuntu)")
}

// InstallRsyslog installs the Debian package when running as root with apt;
// otherwise it returns the command to run.
func InstallRsyslog(ctx context.Context, log io.Writer) (string, error) {
	if path, err := FindRsyslogd(); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("rsyslogd not found and not root: run 'sudo apt-get install -y rsyslog' first")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("rsyslogd not found and no apt-get: install rsyslog with the system's package manager")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	fmt.Fprintln(log, "rsyslogd is missing; installing the Debian package rsyslog")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "rsyslog")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get install rsyslog: %w (try 'apt-get update' first)", err)
	}
	return FindRsyslogd()
}

// RunRsyslog runs rsyslogd in the foreground with queue set-up cfg.Queue,
// writes the JSON streams into its socket and measures until the sink has
// counted every line.
func RunRsyslog(ctx context.Context, cfg RsyslogConfig, p *Payloads) (res Result) {
	res = Result{Key: "rsyslog-" + strings.ToLower(string(cfg.Queue)), Setup: fmt.Sprintf("rsyslog, %s action queue", cfg.Queue), Process: "rsyslogd", Events: p.Events,
		InBytesPerEvent: float64(Bytes(p.JSON)) / float64(p.Events)}
	if cfg.Queue == QueueLinkedList {
		res.Setup = "rsyslog, LinkedList queue (memory, disk on overflow)"
	} else if cfg.Queue == QueueDisk {
		res.Setup = "rsyslog, Disk queue"
	}
	if err := runRsyslog(ctx, cfg, p, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func runRsyslog(ctx context.Context, cfg RsyslogConfig, p *Payloads, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	work := filepath.Join(cfg.Dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	sink, err := NewSink(int64(p.Events))
	if err != nil {
		return fmt.Errorf("start sink: %w", err)
	}
	defer sink.Close()
	socket := filepath.Join(cfg.Dir, "in.sock")
	conf, err := RsyslogConf(work, socket, sink.Addr().Port, cfg.Queue)
	if err != nil {
		return err
	}
	res.Config = conf
	confPath := filepath.Join(cfg.Dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	proc, err := pipeline.Start("rsyslogd", cfg.Rsyslogd,
		[]string{"-n", "-f", confPath, "-i", filepath.Join(cfg.Dir, "rsyslogd.pid")},
		filepath.Join(cfg.Dir, "rsyslogd.log"))
	if err != nil {
		return err
	}
	defer proc.Kill()
	if err := proc.WaitSocket(ctx, socket); err != nil {
		return err
	}
	snd, err := Dial(ctx, socket, len(p.JSON), nil)
	if err != nil {
		return err
	}
	defer snd.Close()
	cpu0, err := ReadCPU(proc.Pid())
	if err != nil {
		return err
	}

	stopPerf := func() error { return nil }
	if cfg.PerfOut != "" {
		if stopPerf, err = Profile(proc.Pid(), cfg.PerfOut); err != nil {
			return err
		}
		defer stopPerf()
		if cpu0, err = ReadCPU(proc.Pid()); err != nil {
			return err
		}
	}

	start := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctx, p.JSON) }()
	if err := waitSink(ctx, cfg, proc, sink, sent, start); err != nil {
		return err
	}
	use, err := ReadUsage(proc.Pid())
	if err != nil {
		return err
	}
	if err := stopPerf(); err != nil {
		return err
	}
	wall := sink.ReachedAt().Sub(start).Seconds()
	res.WallSeconds = wall
	res.EventsPerSec = float64(p.Events) / wall
	res.CPUSeconds = (use.CPU - cpu0).Seconds()
	res.CPUPerMillion = perMillion(res.CPUSeconds, p.Events)
	res.PeakRSSMiB = mib(use.PeakRSS)
	res.OutBytesPerEvent = float64(sink.Bytes()) / float64(p.Events)
	if got := sink.Lines(); got != int64(p.Events) {
		return fmt.Errorf("sink counted %d lines; want %d (rsyslog split or duplicated messages)", got, p.Events)
	}
	if first := sink.First(); len(first) == 0 || first[0] != '{' {
		return fmt.Errorf("sink's first line is not the JSON event sent: %q", first)
	}
	snd.Close()
	if err := proc.Stop(30 * time.Second); err != nil {
		return fmt.Errorf("measured, but rsyslogd did not stop cleanly: %w", err)
	}
	return nil
}

// stallAfter ends a run whose receiver has seen no new event for this long
// after every byte was written: the peer is stuck, and waiting out the whole
// timeout would only delay the report.
const stallAfter = 30 * time.Second

func waitSink(ctx context.Context, cfg RsyslogConfig, proc *pipeline.Process, sink *Sink, sent <-chan error, start time.Time) error {
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	lastLog := start
	st := stall{}
	for {
		select {
		case <-sink.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d lines at the sink (have %d): %w (log: %s)", sink.want, sink.Lines(), ctx.Err(), proc.Log)
		case err := <-sent:
			if err != nil {
				return err
			}
			sent = nil
		case now := <-tick.C:
			if !proc.Alive() {
				return fmt.Errorf("rsyslogd died during the run; log tail: %s", proc.Tail(600))
			}
			if st.stuck(now, sink.Lines(), sent == nil) {
				return fmt.Errorf("stalled: %d of %d lines at the sink and none for %s after everything was written (log: %s)",
					sink.Lines(), sink.want, stallAfter, proc.Log)
			}
			if cfg.Log != nil && now.Sub(lastLog) >= 2*time.Second {
				fmt.Fprintf(cfg.Log, "  rsyslog %s: %d of %d lines at the sink after %.1fs\n", cfg.Queue, sink.Lines(), sink.want, now.Sub(start).Seconds())
				lastLog = now
			}
		}
	}
}

// stall notices a count that stopped moving once the sender is done.
type stall struct {
	count int64
	since time.Time
}

func (s *stall) stuck(now time.Time, count int64, sendDone bool) bool {
	if count != s.count || s.since.IsZero() || !sendDone {
		s.count, s.since = count, now
		return false
	}
	return now.Sub(s.since) >= stallAfter
}
