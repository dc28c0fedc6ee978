package forwarder

import "testing"

func TestCompressBodies(t *testing.T) {
	for _, tc := range []struct {
		compress, collector string
		want                bool
	}{
		{"auto", "http://127.0.0.1:7070", false},
		{"auto", "http://[::1]:7070", false},
		{"auto", "http://localhost:7070", false},
		{"auto", "https://collector.internal:7070", true},
		{"auto", "http://10.0.0.5:7070", true},
		{"zstd", "http://127.0.0.1:7070", true},
		{"none", "https://collector.internal:7070", false},
	} {
		c := Config{Compress: tc.compress, Collector: tc.collector}
		if got := c.compressBodies(); got != tc.want {
			t.Errorf("--compress %s --collector %s: compress = %v; want %v", tc.compress, tc.collector, got, tc.want)
		}
	}
}
