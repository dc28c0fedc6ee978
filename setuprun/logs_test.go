package setuprun

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkLogs checks what any logs must be: valid UTF-8, at most
// MaxLogBytes, and their accounting against written.
func checkLogs(t *testing.T, logs string, dropped, written uint64) {
	t.Helper()
	if !utf8.ValidString(logs) {
		t.Fatalf("logs are not valid UTF-8: %q", logs)
	}
	if len(logs) > MaxLogBytes {
		t.Fatalf("unexpected logs length %d; want at most %d", len(logs), MaxLogBytes)
	}
	if dropped > written {
		t.Fatalf("dropped %d of %d bytes written", dropped, written)
	}
}

// TestCutOnRuneBoundary puts a rune of each width across the cut, at each
// of its offsets: the logs start after it, never inside it.
func TestCutOnRuneBoundary(t *testing.T) {
	for _, r := range []string{"é", "€", "𝄞"} {
		for shift := range len(r) + 1 {
			// The rune's first byte is `shift` bytes before the cut.
			after := strings.Repeat("a", MaxLogBytes-len(r)+shift)
			in := "xyz" + r + after
			var l logBuffer
			l.write([]byte(in))
			logs, dropped := l.logs()
			checkLogs(t, logs, dropped, uint64(len(in)))
			want := after
			if shift == len(r) || shift == 0 {
				// The rune lies wholly before the cut, or just fits.
				want = in[len(in)-MaxLogBytes:]
			}
			if logs != want {
				t.Fatalf("rune %q, shift %d: logs start %q (%d bytes); want %q (%d bytes)",
					r, shift, logs[:8], len(logs), want[:8], len(want))
			}
			if dropped != uint64(len(in)-len(logs)) {
				t.Fatalf("rune %q, shift %d: unexpected dropped; got %d; want %d", r, shift, dropped, len(in)-len(logs))
			}
		}
	}
}

func TestShortOutputIsKeptWhole(t *testing.T) {
	var l logBuffer
	l.write([]byte("Downloading weights…\n"))
	l.write([]byte("done ✓\n"))
	logs, dropped := l.logs()
	if logs != "Downloading weights…\ndone ✓\n" || dropped != 0 {
		t.Fatalf("unexpected logs %q, dropped %d", logs, dropped)
	}
	var empty logBuffer
	if logs, dropped := empty.logs(); logs != "" || dropped != 0 {
		t.Fatalf("unexpected logs %q, dropped %d from no output", logs, dropped)
	}
}

// TestInvalidBytesAreReplaced: a rune split by another pipe's write, and
// stray bytes, become U+FFFD.
func TestInvalidBytesAreReplaced(t *testing.T) {
	var l logBuffer
	l.write([]byte("caf\xc3")) // stdout: the first byte of "é"
	l.write([]byte("[err]"))   // stderr cuts in
	l.write([]byte("\xa9\n\xff\xfe!"))
	logs, dropped := l.logs()
	if want := "caf\uFFFD[err]\uFFFD\n\uFFFD!"; logs != want || dropped != 0 {
		t.Fatalf("unexpected logs %q, dropped %d; want %q, 0", logs, dropped, want)
	}
	// At the limit, each bad byte is counted as the 3 bytes it becomes.
	l = logBuffer{}
	in := strings.Repeat("\xff", MaxLogBytes)
	l.write([]byte(in))
	logs, dropped = l.logs()
	checkLogs(t, logs, dropped, uint64(len(in)))
	if logs != "\uFFFD" || dropped != uint64(len(in)-MaxLogBytes/3) {
		t.Fatalf("unexpected logs %q, dropped %d", logs, dropped)
	}
}

// TestChunkingDoesNotMatter writes random mixed-width text in random
// chunks, and checks the logs are those of the whole output at once.
func TestChunkingDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	runes := []string{"a", "\n", "é", "€", "𝄞", "\xff"}
	for iter := range 50 {
		var out bytes.Buffer
		for out.Len() < rng.IntN(4*MaxLogBytes) {
			out.WriteString(runes[rng.IntN(len(runes))])
		}
		in := out.Bytes()
		var l logBuffer
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN([]int{3, 100, 5000, 3 * MaxLogBytes}[iter%4]))
			l.write(rest[:n])
			rest = rest[n:]
		}
		logs, dropped := l.logs()
		checkLogs(t, logs, dropped, uint64(len(in)))
		want, used := tail(in, MaxLogBytes)
		if logs != want || dropped != uint64(len(in)-used) {
			t.Fatalf("iteration %d: logs of %d bytes, dropped %d; want %d bytes, dropped %d", iter, len(logs), dropped, len(want), len(in)-used)
		}
		// Valid output is cut at most a rune's width short of the limit.
		if len(in) > MaxLogBytes && utf8.Valid(in) && len(logs) <= MaxLogBytes-utf8.UTFMax {
			t.Fatalf("iteration %d: logs of %d bytes; want nearly %d", iter, len(logs), MaxLogBytes)
		}
	}
}
