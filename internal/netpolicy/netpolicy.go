// Package netpolicy holds the one definition of a loopback-only host, which
// decides two security defaults: whether the collector may listen without a
// token, and whether the forwarder may send its token over plain http://.
package netpolicy

import (
	"context"
	"net"
	"strings"
	"time"
)

// LoopbackOnly reports whether host names the loopback interface only, so
// that traffic to or from it never leaves the machine. An empty host or a
// wildcard address (0.0.0.0, ::) listens everywhere. Host names other than
// "localhost" count as non-loopback even when they resolve to a loopback
// address today: DNS may answer differently tomorrow. "localhost" is
// resolved, and is loopback-only when every address it resolves to is a
// loopback address (a hosts file can map it elsewhere); a failed lookup
// counts as non-loopback, so the check fails closed.
func LoopbackOnly(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name != "localhost" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false
		}
	}
	return true
}
