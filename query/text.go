package query

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Printable returns s as a terminal shows it safely: every rune that
// unicode.IsPrint rejects (control characters such as "\n" and ESC, bidi
// controls such as U+202E, zero-width characters, line separators) and
// every byte that is not UTF-8 is written as a Go escape (\n, \x1b,
// \u202e), and a backslash as \\, so that a backslash in the text cannot
// pass for an escape. A model id is text an emitter chose; printed raw, a
// newline in it forges a row, and an ANSI escape or a bidi control rewrites
// what the operator's terminal shows. Only the text formats for people use
// it: CSV and JSON carry the exact bytes.
func Printable(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' {
		i++
	}
	if i == len(s) {
		return s // printable ASCII, the usual case
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	for j := i; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\x`...)
			b = append(b, hexDigits[s[j]>>4], hexDigits[s[j]&0xf])
		case r == '\\':
			b = append(b, `\\`...)
		case unicode.IsPrint(r):
			b = append(b, s[j:j+size]...)
		default:
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u202e'
			b = append(b, q[1:len(q)-1]...)
		}
		j += size
	}
	return string(b)
}

const hexDigits = "0123456789abcdef"

// grid is a text table: text columns align left, numbers right.
type grid struct {
	header []string
	right  []bool
	rows   [][]string
}

func (g *grid) add(cells ...string) { g.rows = append(g.rows, cells) }

// write prints the grid with every cell made Printable first, so that no
// text from the data reaches the terminal raw and the widths are those of
// what is printed.
func (g *grid) write(w io.Writer) error {
	lines := make([][]string, 0, 1+len(g.rows))
	for _, r := range append([][]string{g.header}, g.rows...) {
		cells := make([]string, len(r))
		for j, c := range r {
			cells[j] = Printable(c)
		}
		lines = append(lines, cells)
	}
	width := make([]int, len(g.header))
	for _, r := range lines {
		for j, c := range r {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	bw := bufio.NewWriter(w)
	for _, r := range lines {
		var line strings.Builder
		for j, c := range r {
			if j > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(c))
			if g.right[j] {
				line.WriteString(pad + c)
			} else if j < len(r)-1 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(c)
			}
		}
		bw.WriteString(strings.TrimRight(line.String(), " "))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// writeTable prints the columns people look at first: keys, counts, error
// rate, neurons, tokens, and the median and p99 of request time and time to
// first token. CSV and JSON carry every field.
func writeTable(w io.Writer, res *Result) error {
	var g grid
	if res.Bucketed {
		g.header, g.right = append(g.header, "time"), append(g.right, false)
	}
	for _, d := range res.GroupBy {
		_, numeric := dimValue(d, &Key{}).(uint64)
		g.header, g.right = append(g.header, d), append(g.right, numeric)
	}
	for _, h := range []string{"requests", "errors", "error%", "neurons", "input_tokens", "output_tokens",
		"req_p50_ms", "req_p99_ms", "ttft_p50_ms", "ttft_p99_ms"} {
		g.header, g.right = append(g.header, h), append(g.right, true)
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		var cells []string
		if res.Bucketed {
			cells = append(cells, r.Time.UTC().Format(time.RFC3339))
		}
		for _, d := range res.GroupBy {
			switch v := dimValue(d, &r.Key).(type) {
			case string:
				if v == "" {
					v = "-" // a blank key, such as a folded overflow group
				}
				cells = append(cells, v)
			case uint64:
				cells = append(cells, strconv.FormatUint(v, 10))
			}
		}
		req, ttft := &r.Durations[0], &r.Durations[3]
		cells = append(cells,
			strconv.FormatInt(r.Requests, 10),
			strconv.FormatInt(r.Errors, 10),
			fmt.Sprintf("%.2f%%", 100*r.ErrorRate()),
			fmt.Sprintf("%.3f", r.Neurons),
			strconv.FormatInt(r.InputTokens, 10),
			strconv.FormatInt(r.OutputTokens, 10),
			fmt.Sprintf("%.2f", req.P50),
			fmt.Sprintf("%.2f", req.P99),
			fmt.Sprintf("%.2f", ttft.P50),
			fmt.Sprintf("%.2f", ttft.P99),
		)
		g.add(cells...)
	}
	return g.write(w)
}

// writeGrid prints every column of rows as aligned text for people:
// numbers to the right, fractions to three decimals, a blank text or a
// missing value as "-".
func writeGrid[R any](w io.Writer, rows []R, cols []column[R]) error {
	g := grid{header: make([]string, len(cols)), right: make([]bool, len(cols))}
	for j, c := range cols {
		g.header[j] = c.name
		if len(rows) > 0 {
			switch c.value(&rows[0]).(type) {
			case int64, uint64, float64:
				g.right[j] = true
			}
		}
	}
	for i := range rows {
		cells := make([]string, len(cols))
		for j, c := range cols {
			cells[j] = gridCell(c.value(&rows[i]))
		}
		g.add(cells...)
	}
	return g.write(w)
}

func gridCell(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "-"
		}
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 3, 64)
	case nil:
		return "-"
	}
	return formatPlain(v)
}
