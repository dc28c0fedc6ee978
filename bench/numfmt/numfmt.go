// Package numfmt formats measurements for the Markdown tables of the bench
// commands: readable at a glance, precise enough to compare.
package numfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Thousands formats v rounded to an integer, with comma separators.
func Thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Num formats v for a table cell: integers of 1,000 and more with
// separators, smaller values with three significant digits, so that 0.5,
// 12.3 and 1,234,567 all read naturally.
func Num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case math.Abs(v) >= 1000:
		return Thousands(v)
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
