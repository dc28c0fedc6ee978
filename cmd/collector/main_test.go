package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	d, o := filepath.Join(dir, "d"), filepath.Join(dir, "o")
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"--help"}, 0},
		{"unknown flag", []string{"--nope"}, exitConfig},
		{"no listen", []string{"--data", d, "--out", o}, exitConfig},
		{"no data", []string{"--listen", "127.0.0.1:0", "--out", o}, exitConfig},
		{"public without token", []string{"--listen", "0.0.0.0:0", "--data", d, "--out", o}, exitConfig},
		{"missing token file", []string{"--listen", "0.0.0.0:0", "--data", d, "--out", o, "--token-file", filepath.Join(dir, "none")}, exitConfig},
		{"empty token file", []string{"--listen", "0.0.0.0:0", "--data", d, "--out", o, "--token-file", empty}, exitConfig},
		{"bad window", []string{"--listen", "127.0.0.1:0", "--data", d, "--out", o, "--window", "7m"}, exitConfig},
		{"bad log level", []string{"--listen", "127.0.0.1:0", "--data", d, "--out", o, "--log-level", "loud"}, exitConfig},
		{"bad metrics addr", []string{"--listen", "127.0.0.1:0", "--data", d, "--out", o, "--metrics-addr", "x"}, exitConfig},
		{"port taken", []string{"--listen", taken.Addr().String(), "--data", d, "--out", o}, exitConfig},
		{"extra argument", []string{"--listen", "127.0.0.1:0", "--data", d, "--out", o, "extra"}, exitConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Fatalf("unexpected exit status; got %d; want %d", got, tc.want)
			}
		})
	}
}

// TestConfigErrorsNameFlags: the collector library names Config fields in
// its errors; the command turns every one it can into its flag.
func TestConfigErrorsNameFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--max-groups 0":                          "--max-groups 0 must be positive",
		"--max-total-groups 5":                    "--max-total-groups 5 is below --max-groups 100000",
		"--max-emitters-per-forwarder 0":          "--max-emitters 100000 and --max-emitters-per-forwarder 0 must be positive",
		"--tls-cert a":                            "--tls-cert and --tls-key go together",
		"--allowed-lateness -1s":                  "--allowed-lateness -1s is negative",
		"--listen 0.0.0.0:1 --allowed-lateness 0": "give a --token-file, or --insecure-no-auth",
	} {
		argv := append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--out", t.TempDir()}, strings.Fields(args)...)
		_, err := parseFlags(argv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v; want an error containing %q", args, err, want)
		}
	}
}
