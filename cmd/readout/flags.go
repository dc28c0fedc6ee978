package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/readout-dev/readout/query"
)

// parseFlags parses args into fs. It reports done when the caller should
// return status at once: after --help (help on stdout, status 0) or a bad
// flag (one line on stderr, status 2).
func parseFlags(fs *flag.FlagSet, help string, args []string, stdout, stderr io.Writer) (status int, done bool) {
	fs.SetOutput(io.Discard) // the flag package's own messages span lines; ours do not
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, help)
		return exitOK, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "readout %s: %v (see readout %s --help)\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "readout %s: unexpected argument %q (see readout %s --help)\n", fs.Name(), strings.Join(fs.Args(), " "), fs.Name())
		return exitUsage, true
	}
	return exitOK, false
}

// fail prints err as the one line a failed command leaves on stderr. The
// message can quote the data (a file's name under OUT, text from a damaged
// file), so it is made printable like the table's cells: a control
// character in it must neither split the line nor reach the terminal raw.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "readout %s: %s\n", cmd, query.Printable(err.Error()))
	return exitUsage
}
