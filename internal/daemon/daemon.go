// Package daemon holds what readout's two daemons set up the same way:
// their logger, and how they read and check secret files.
package daemon

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns zap's production JSON logger on stderr at level
// (debug, info, warn or error). Sampling is off: messages that repeat are
// rate-limited where they are logged, and sampling would also drop the ones
// that must never be lost.
func NewLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	return zc.Build()
}

// WarnIfWorldReadable warns when a secret's file (named by flag) can be read
// by every user. A warning, not an error: the file may sit in a directory
// nobody else can enter.
func WarnIfWorldReadable(log *zap.Logger, flag, path string) {
	if path == "" {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		log.Warn(flag+" is readable by all users; chmod o-r it", zap.String("path", path))
	}
}

// ReadTokenFile reads a bearer token from the file named by a flag: the
// file's contents with surrounding white space trimmed. An empty path
// means no token (""); a file that cannot be read or holds only white
// space is an error naming the flag.
func ReadTokenFile(flag, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%s %s is empty", flag, path)
	}
	return token, nil
}
