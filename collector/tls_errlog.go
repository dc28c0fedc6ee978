package collector

import (
	stdlog "log"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/readout-dev/readout/internal/lograte"
)

// ServerErrorLog returns the net/http server error log for the ingest
// listener. Anyone who can reach --listen can make the server log (a failed
// TLS handshake, a malformed request line), so lines are passed to log at
// Warn at most once per 10 s, with the count of lines left out since the
// last one. net/http never puts request headers, and so never the bearer
// token, in these lines.
func ServerErrorLog(log *zap.Logger) *stdlog.Logger {
	return stdlog.New(&limitedWriter{log: log, limit: lograte.Limit{Every: logEvery}}, "", 0)
}

type limitedWriter struct {
	log        *zap.Logger
	limit      lograte.Limit
	suppressed atomic.Int64
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if !w.limit.Allow(time.Now()) {
		w.suppressed.Add(1)
		return len(p), nil
	}
	w.log.Warn("ingest server error (logged at most every 10s)",
		zap.String("error", strings.TrimSpace(string(p))), zap.Int64("suppressed", w.suppressed.Swap(0)))
	return len(p), nil
}
