package netpolicy

import (
	"net"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"", false}, {"0.0.0.0", false}, {"::", false}, {"10.0.0.1", false}, {"192.168.1.1", false},
		{"192.0.2.1", false}, {"2001:db8::1", false}, {"[::1]", false},
		{"example.com", false}, {"localhost.example.com", false}, {"my-host", false}, {"collector.internal", false},
	}
	for _, tc := range cases {
		if got := LoopbackOnly(tc.host); got != tc.want {
			t.Errorf("LoopbackOnly(%q) = %v; want %v", tc.host, got, tc.want)
		}
	}
	// localhost is resolved: it counts when every address is loopback.
	addrs, err := net.DefaultResolver.LookupIPAddr(t.Context(), "localhost")
	want := err == nil && len(addrs) > 0
	for _, a := range addrs {
		want = want && a.IP.IsLoopback()
	}
	for _, h := range []string{"localhost", "LOCALHOST", "localhost."} {
		if got := LoopbackOnly(h); got != want {
			t.Errorf("LoopbackOnly(%q) = %v; want %v (resolves to %v, %v)", h, got, want, addrs, err)
		}
	}
}
