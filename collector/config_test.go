package collector

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	base := Config{Listen: "127.0.0.1:9000", DataDir: "d", OutDir: "o"}
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
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }, "--listen"},
		{"no data", func(c *Config) { c.DataDir = "" }, "--data"},
		{"no out", func(c *Config) { c.OutDir = "" }, "--out"},
		{"sub-second window", func(c *Config) { c.Window = 1500 * time.Millisecond }, "--window"},
		{"window not dividing an hour", func(c *Config) { c.Window = 7 * time.Minute }, "--window"},
		{"hour window", func(c *Config) { c.Window = time.Hour }, ""},
		{"negative lateness", func(c *Config) { c.AllowedLateness = -time.Second }, "--allowed-lateness"},
		{"negative groups", func(c *Config) { c.MaxGroups = -1 }, "--max-groups"},
		{"tiny body", func(c *Config) { c.MaxBodyBytes = 10 }, "--max-body-bytes"},
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
