package scaling

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is one line of a chart, drawn against the left y axis or, with
// Right, the right one. X and Y have the same length.
type Series struct {
	Name  string
	Unit  string // the y axis label
	Right bool
	X, Y  []float64
}

// Chart is a line chart with one or two y axes, both starting at zero.
type Chart struct {
	Title  string
	XLabel string
	LogX   bool // log-scale x axis, ticks at the points' x values
	Series []Series
}

const (
	chartW, chartH             = 760, 440
	padL, padR, padT, padB     = 90, 90, 70, 60
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	yTicks                     = 5
	fontAttr                   = `font-family="sans-serif" font-size="12"`
	leftColour, rightColour    = "#1f77b4", "#d62728"
	gridColour, axisColour     = "#dddddd", "#333333"
	legendX0, legendY, legendW = padL, 48, 300
)

// WriteSVG draws the chart as a standalone SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	var xs []float64
	for _, s := range c.Series {
		xs = append(xs, s.X...)
	}
	if len(xs) == 0 {
		return fmt.Errorf("chart %q: no points", c.Title)
	}
	xmin, xmax := minMax(xs)
	if c.LogX && xmin <= 0 {
		return fmt.Errorf("chart %q: log x axis needs positive x values", c.Title)
	}
	xpos := func(x float64) float64 {
		if xmax == xmin {
			return padL + plotW/2
		}
		if c.LogX {
			return padL + plotW*(math.Log(x)-math.Log(xmin))/(math.Log(xmax)-math.Log(xmin))
		}
		return padL + plotW*(x-xmin)/(xmax-xmin)
	}
	top := map[bool]float64{}
	for _, s := range c.Series {
		_, m := minMax(s.Y)
		top[s.Right] = math.Max(top[s.Right], m)
	}
	for k, v := range top {
		top[k] = niceCeil(v)
	}
	ypos := func(right bool, y float64) float64 { return padT + plotH - plotH*y/top[right] }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-family="sans-serif" font-size="16" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))
	// Horizontal grid and the y tick labels of each axis in use.
	for i := 0; i <= yTicks; i++ {
		y := padT + plotH - float64(plotH*i)/yTicks
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, gridColour)
		for _, right := range []bool{false, true} {
			t, ok := top[right]
			if !ok {
				continue
			}
			label := compact(t * float64(i) / yTicks)
			if right {
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s fill="%s">%s</text>`+"\n", padL+plotW+6, y+4, fontAttr, rightColour, label)
			} else {
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end" fill="%s">%s</text>`+"\n", padL-6, y+4, fontAttr, leftColour, label)
			}
		}
	}
	// X ticks: every distinct x on a log axis, six even steps otherwise.
	var ticks []float64
	if c.LogX {
		ticks = distinct(xs)
	} else {
		for i := 0; i <= 5; i++ {
			ticks = append(ticks, xmin+(xmax-xmin)*float64(i)/5)
		}
	}
	for _, x := range ticks {
		px := xpos(x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", px, padT+plotH, px, padT+plotH+5, axisColour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`+"\n", px, padT+plotH+20, fontAttr, compact(x))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH, axisColour)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", padL, padT, padL, padT+plotH, axisColour)
	xl := c.XLabel
	if c.LogX {
		xl += " (log scale)"
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s text-anchor="middle">%s</text>`+"\n", padL+plotW/2, chartH-14, fontAttr, esc(xl))
	// Axis titles, rotated, from the first series on each side.
	for _, right := range []bool{false, true} {
		for _, s := range c.Series {
			if s.Right != right {
				continue
			}
			x, colour := 20, leftColour
			if right {
				x, colour = chartW-14, rightColour
				fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", padL+plotW, padT, padL+plotW, padT+plotH, axisColour)
			}
			fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(-90)" %s text-anchor="middle" fill="%s">%s</text>`+"\n",
				x, padT+plotH/2, fontAttr, colour, esc(s.Unit))
			break
		}
	}
	// The lines, their points and the legend.
	for i, s := range c.Series {
		colour, dash := leftColour, ""
		if s.Right {
			colour, dash = rightColour, ` stroke-dasharray="6 4"`
		}
		var pts []string
		for j := range s.X {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(s.X[j]), ypos(s.Right, s.Y[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", colour, dash, strings.Join(pts, " "))
		for j := range s.X {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s</title></circle>`+"\n",
				xpos(s.X[j]), ypos(s.Right, s.Y[j]), colour, esc(s.Name), compact(s.Y[j]))
		}
		lx := legendX0 + i*legendW
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", lx, legendY-4, lx+24, legendY-4, colour, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", lx+30, legendY, fontAttr, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func minMax(vs []float64) (lo, hi float64) {
	if len(vs) == 0 {
		return 0, 0
	}
	lo, hi = vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}

func distinct(vs []float64) []float64 {
	seen := map[float64]bool{}
	var out []float64
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0),
// so that the axis ticks fall on round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// compact formats an axis value: 1.5M, 200k, 12, 0.25.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

func esc(s string) string { return html.EscapeString(s) }
