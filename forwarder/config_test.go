package forwarder

import (
	"strconv"
	"strings"
	"testing"

	"github.com/readout-dev/readout/wire"
)

func validConfig(collector, token string) Config {
	c := DefaultConfig()
	c.Socket, c.Spool, c.Collector, c.Token = "s.sock", "spool", collector, token
	return c
}

// TestValidatePlaintextToken: a token may go over plain http:// only to a
// loopback-only host, or with InsecurePlaintextToken.
func TestValidatePlaintextToken(t *testing.T) {
	for _, tc := range []struct {
		collector, token string
		insecure, ok     bool
	}{
		{"http://127.0.0.1:7070", "t", false, true},
		{"http://[::1]:7070", "t", false, true},
		{"http://127.8.9.10:7070/", "t", false, true},
		{"https://collector.internal:7070", "t", false, true},
		{"https://192.0.2.1:7070", "t", false, true},
		{"http://collector.internal:7070", "", false, true},
		{"http://collector.internal:7070", "t", false, false},
		{"HTTP://COLLECTOR.internal:7070", "t", false, false},
		{"http://192.0.2.1:7070", "t", false, false},
		{"http://[2001:db8::1]:7070", "t", false, false},
		{"http://0.0.0.0:7070", "t", false, false},
		{"http://localhost.example.com:7070", "t", false, false},
		{"http://collector.internal:7070", "t", true, true},
		{"http://192.0.2.1:7070", "t", true, true},
	} {
		c := validConfig(tc.collector, tc.token)
		c.InsecurePlaintextToken = tc.insecure
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("--collector %s, token %q, insecure %v: error %v; want ok=%v", tc.collector, tc.token, tc.insecure, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure-plaintext-token") {
			t.Errorf("--collector %s: error %q does not name the flag", tc.collector, err)
		}
	}
}

// TestValidateMaxMessageSize: --max-message-size is bounded by the
// collector's per-event limit.
func TestValidateMaxMessageSize(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{
		{63, false}, {64, true}, {wire.MaxMessageSize, true}, {wire.MaxMessageSize + 1, false}, {16 << 20, false},
	} {
		c := validConfig("http://127.0.0.1:7070", "")
		c.MaxMessage = tc.size
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("MaxMessage %d: error %v; want ok=%v", tc.size, err, tc.ok)
		}
		if tc.size > wire.MaxMessageSize && (err == nil || !strings.Contains(err.Error(), strconv.Itoa(wire.MaxMessageSize))) {
			t.Errorf("MaxMessage %d: error %v does not name the limit", tc.size, err)
		}
	}
}
