// Command readout reads the Parquet tables a readout collector writes:
// `readout query` merges the aggregates of a table, `readout audit` accounts for
// every event of every emitter. The work is done by package query; this
// file parses the command line and maps errors to exit statuses.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Exit statuses.
const (
	exitOK    = 0
	exitGaps  = 1 // audit --fail-on-gaps found unexplained seqs
	exitUsage = 2 // bad usage, missing or unreadable data
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the module's build information is used.
var version = ""

const usage = `readout reads the Parquet tables a readout collector writes under its --out directory.

Usage:
  readout <command> [flags]

Commands:
  query     merge a table over a time range, filtered, grouped and bucketed: inference,
            instance_state, predictions, downloads, setup_runs or lifecycle
  audit     account for every event of every emitter: sent, received, dropped, unexplained
  kafka-dev serve an in-process Kafka cluster for development and tests (not for production)
  version   print the version
  help      print this help, or a command's: readout help query

Run 'readout <command> --help' for a command's flags and examples.
Exit status: 0 success; 1 audit --fail-on-gaps found gaps; 2 bad usage, or data missing or unreadable.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program but for the process: it takes the arguments after
// the program name and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "query":
		return runQuery(rest, stdout, stderr)
	case "audit":
		return runAudit(rest, stdout, stderr)
	case "kafka-dev":
		return runKafkaDev(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "readout", buildVersion())
		return exitOK
	case "help", "--help", "-help", "-h":
		if len(rest) > 0 {
			return run([]string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "readout: unknown command %q (want query, audit, kafka-dev, version or help)\n", cmd)
		return exitUsage
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

// newLogger writes warnings, one line each, to stderr: stdout is for rows.
func newLogger(stderr io.Writer) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = ""
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.AddSync(stderr), zapcore.WarnLevel)
	return zap.New(core)
}
