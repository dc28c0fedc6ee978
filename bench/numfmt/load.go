package numfmt

import (
	"os"
	"strings"
)

// LoadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg ("" when unreadable): on a shared machine they say how busy
// it was while a benchmark ran.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
