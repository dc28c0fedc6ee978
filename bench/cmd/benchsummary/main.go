// Command benchsummary turns the output of `go test -bench` (as make bench
// writes it to bench/results/micro.txt, the text benchstat reads) into a
// Markdown table per package: the median of every unit, the sample count
// and the spread, with the machine and date.
//
//	go run ./bench/cmd/benchsummary --in bench/results/micro.txt --out bench/results/micro.md
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/readout-dev/readout/bench/forwarding"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchsummary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "bench/results/micro.txt", "go test -bench output to summarise")
	out := fs.String("out", "bench/results/micro.md", "Markdown `file` to write; - for stdout")
	command := fs.String("command", "", "the command that produced --in, quoted in the summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchsummary: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := summarise(*in, *out, *command, stdout); err != nil {
		fmt.Fprintln(stderr, "benchsummary:", err)
		return 1
	}
	return 0
}

func summarise(in, out, command string, stdout io.Writer) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	res, err := Parse(f)
	if err != nil {
		return err
	}
	n := 0
	for _, p := range res.Packages {
		n += len(p.Benchmarks)
	}
	if n == 0 {
		return fmt.Errorf("no benchmark results in %s", in)
	}
	m := forwarding.ThisMachine()
	if m.CPUModel == "unknown" {
		for _, p := range res.Packages {
			if p.CPU != "" {
				m.CPUModel = p.CPU
				break
			}
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, Header{Machine: m, Recorded: st.ModTime(), Input: in, Command: command}, res); err != nil {
		return err
	}
	if out == "-" {
		_, err := stdout.Write(md.Bytes())
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d benchmarks in %d packages\n", out, n, len(res.Packages))
	return nil
}
