package pipeline

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metric sums every sample of the Prometheus metric family name (labels
// ignored) scraped from addr's /metrics. ok is false when the scrape failed
// or the family is absent.
func Metric(addr, name string) (sum float64, ok bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		if i := strings.IndexByte(key, '{'); i >= 0 {
			// Labels may hold spaces; re-split after the closing brace.
			j := strings.LastIndexByte(line, '}')
			key, rest = line[:i], strings.TrimSpace(line[j+1:])
		}
		if key != name {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				sum += v
				ok = true
			}
		}
	}
	return sum, ok
}
