package main

import (
	"net"
	"os"
	"path/filepath"
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
