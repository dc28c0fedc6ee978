package collector

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	base := DefaultConfig()
	base.Listen, base.DataDir, base.OutDir = "127.0.0.1:9000", "d", "o"
	cases := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"defaults on loopback", func(c *Config) {}, ""},
		{"localhost", func(c *Config) { c.Listen = "localhost:1" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Listen = "[::1]:1" }, ""},
		{"all interfaces without token", func(c *Config) { c.Listen = ":9000" }, "not loopback-only"},
		{"public without token", func(c *Config) { c.Listen = "10.0.0.1:9000" }, "not loopback-only"},
		{"public with token", func(c *Config) { c.Listen = "0.0.0.0:9000"; c.Token = "t" }, ""},
		{"public insecure", func(c *Config) { c.Listen = "0.0.0.0:9000"; c.InsecureNoAuth = true }, ""},
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }, "Listen"},
		{"no data", func(c *Config) { c.DataDir = "" }, "DataDir"},
		{"no out", func(c *Config) { c.OutDir = "" }, "OutDir"},
		{"sub-second window", func(c *Config) { c.Window = 1500 * time.Millisecond }, "Window"},
		{"window not dividing an hour", func(c *Config) { c.Window = 7 * time.Minute }, "Window"},
		{"hour window", func(c *Config) { c.Window = time.Hour }, ""},
		{"negative lateness", func(c *Config) { c.AllowedLateness = -time.Second }, "AllowedLateness"},
		{"negative groups", func(c *Config) { c.MaxGroups = -1 }, "MaxGroups"},
		{"tiny body", func(c *Config) { c.MaxBodyBytes = 10 }, "MaxBodyBytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got error %v; want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestZeroMeansZero: a zero field is zero, not its default, so that
// --allowed-lateness 0 means windows are written as soon as they end.
func TestZeroMeansZero(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OutDir = "127.0.0.1:0", t.TempDir(), t.TempDir()
	cfg.AllowedLateness = 0
	c, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if c.cfg.AllowedLateness != 0 {
		t.Fatalf("unexpected lateness; got %v; want 0", c.cfg.AllowedLateness)
	}
	for name, mod := range map[string]func(*Config){
		"flush interval": func(c *Config) { c.FlushInterval = 0 },
		"dedupe ttl":     func(c *Config) { c.DedupeTTL = 0 },
		"queue size":     func(c *Config) { c.QueueSize = 0 },
	} {
		bad := cfg
		mod(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s 0 accepted", name)
		}
	}
}
