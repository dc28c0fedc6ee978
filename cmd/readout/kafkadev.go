package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

const kafkaDevHelp = `Usage: readout kafka-dev [--listen HOST:PORT] [--brokers N] [--partitions P]

Serves an in-process Kafka cluster (franz-go's kfake, which speaks the real
Kafka protocol) for development, tests and the demo, until SIGTERM or
SIGINT. It prints one line with every broker's address. Any topic is
created on first use with P partitions. Data lives in memory and is gone
when it stops.

This is not a Kafka: production runs forwarders and collectors against a
real Kafka (or a Kafka-compatible service) with the same flags.

Flags:
  --listen HOST:PORT  the first broker's address (default 127.0.0.1:9092); the
                      others take free ports on the same host
  --brokers N         brokers in the cluster (default 3)
  --partitions P      partitions of each topic created on first use (default 12)
`

func runKafkaDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafka-dev", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "")
	brokers := fs.Int("brokers", 3, "")
	partitions := fs.Int("partitions", 12, "")
	if status, done := parseFlags(fs, kafkaDevHelp, args, stdout, stderr); done {
		return status
	}
	host, port, err := splitListen(*listen)
	switch {
	case err != nil:
		return fail(stderr, "kafka-dev", err)
	case *brokers < 1 || *brokers > 64:
		return fail(stderr, "kafka-dev", fmt.Errorf("--brokers %d must be 1 to 64", *brokers))
	case *partitions < 1 || *partitions > 10000:
		return fail(stderr, "kafka-dev", fmt.Errorf("--partitions %d must be 1 to 10000", *partitions))
	}
	// Take SIGTERM before the brokers can be seen.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	ports := make([]int, *brokers)
	ports[0] = port
	c, err := kfake.NewCluster(
		kfake.NumBrokers(*brokers),
		kfake.Ports(ports...),
		// kfake listens on 127.0.0.1: move every broker to --listen's host.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	)
	if err != nil {
		return fail(stderr, "kafka-dev", fmt.Errorf("--listen %s: %w", *listen, err))
	}
	fmt.Fprintf(stdout, "kafka-dev: %d brokers at %s, topics created with %d partitions\n",
		*brokers, strings.Join(c.ListenAddrs(), ","), *partitions)
	<-sig
	c.Close()
	return exitOK
}

// splitListen parses HOST:PORT; the host must be given.
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--listen %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("--listen %q: bad port", addr)
	}
	if host == "" {
		return "", 0, errors.New("--listen needs a host: 127.0.0.1:9092, not :9092")
	}
	return host, port, nil
}
