package setuprun

import (
	"strings"
	"unicode/utf8"
)

// MaxLogBytes is the most setup output a report carries: the last 20 KiB.
const MaxLogBytes = 20 << 10

// keepBytes is how much output a Reporter holds: the last MaxLogBytes and
// the few bytes before them that may start a rune the cut goes through, so
// that tail can see that rune whole and leave it out.
const keepBytes = MaxLogBytes + utf8.UTFMax - 1

// logBuffer keeps the last keepBytes of what was written to it. It is not
// safe for concurrent use; the Reporter guards it.
type logBuffer struct {
	buf     []byte // the last bytes written, at most keepBytes once compacted
	written uint64 // every byte ever written
}

func (l *logBuffer) write(p []byte) {
	l.written += uint64(len(p))
	if len(p) > keepBytes {
		p = p[len(p)-keepBytes:]
	}
	if l.buf == nil {
		l.buf = make([]byte, 0, 2*keepBytes)
	}
	// Appending until the buffer is full and then sliding what is still
	// worth keeping to the front copies each byte at most twice, however
	// small the writes.
	if len(l.buf)+len(p) > cap(l.buf) {
		old := l.buf[max(0, len(l.buf)-(keepBytes-len(p))):]
		l.buf = l.buf[:copy(l.buf[:cap(l.buf)], old)]
	}
	l.buf = append(l.buf, p...)
}

// logs returns the last MaxLogBytes of output as valid UTF-8 and how many
// bytes of output it leaves out.
func (l *logBuffer) logs() (string, uint64) {
	s, used := tail(l.buf[max(0, len(l.buf)-keepBytes):], MaxLogBytes)
	return s, l.written - uint64(used)
}

// replacement is what a byte that is not UTF-8 becomes in the logs.
const replacement = "\uFFFD"

// tail returns the longest end of b that starts on a rune boundary and is,
// as valid UTF-8, at most limit bytes long, and how many bytes of b that
// is. Bytes that are not part of a valid rune (two pipes' writes can split
// a rune) become U+FFFD, one per run, since the forwarder refuses Text that
// is not UTF-8; each is counted as U+FFFD's 3 bytes against limit.
func tail(b []byte, limit int) (string, int) {
	i, size, invalid := len(b), 0, false
	for i > 0 {
		r, n := utf8.DecodeLastRune(b[:i])
		w := n
		if r == utf8.RuneError && n == 1 {
			w, invalid = len(replacement), true
		}
		if size+w > limit {
			break
		}
		size += w
		i -= n
	}
	if !invalid {
		return string(b[i:]), len(b) - i
	}
	// ToValidUTF8 makes one U+FFFD of each run of bad bytes, so the result
	// is no longer than size.
	return strings.ToValidUTF8(string(b[i:]), replacement), len(b) - i
}
