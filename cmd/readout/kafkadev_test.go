package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/readout-dev/readout/internal/pipeline"
)

// TestKafkaDev runs `readout kafka-dev` as a process and talks to it with
// a real Kafka client: a topic is created on first use with --partitions
// partitions, records produced with acks from all replicas are consumed
// back from every partition, and SIGTERM stops it with status 0.
func TestKafkaDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := t.TempDir()
	root, err := pipeline.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Build(context.Background(), root, bin, "./cmd/readout"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "readout"), "kafka-dev", "--listen", "127.0.0.1:0", "--brokers", "3", "--partitions", "4")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no address line: %v", err)
	}
	// "kafka-dev: 3 brokers at A,B,C, topics created with 4 partitions"
	_, rest, _ := strings.Cut(line, " at ")
	addrs, _, _ := strings.Cut(rest, ", topics")
	seeds := strings.Split(addrs, ",")
	if len(seeds) != 3 {
		t.Fatalf("unexpected address line %q; want 3 brokers", line)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 40
	for i := range n {
		r := &kgo.Record{Topic: "batches", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("batch %d", i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("batches"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got, partitions := 0, map[int32]bool{}
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch after %d records: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			partitions[r.Partition] = true
		})
	}
	if len(partitions) != 4 {
		t.Fatalf("records came from %d partitions; want the 4 of --partitions", len(partitions))
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("kafka-dev after SIGTERM: %v; want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kafka-dev did not stop on SIGTERM")
	}
}

func TestKafkaDevFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--listen :9092":         "needs a host",
		"--listen 127.0.0.1:x":   "bad port",
		"--brokers 0":            "--brokers 0",
		"--partitions 0":         "--partitions 0",
		"--listen 127.0.0.1:1 x": "unexpected argument",
	} {
		code, _, stderr := call(append([]string{"kafka-dev"}, strings.Fields(args)...)...)
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%s: got %d, %q; want %d and %q", args, code, stderr, exitUsage, want)
		}
	}
}
